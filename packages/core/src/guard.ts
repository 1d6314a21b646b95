import type { Logger } from 'pino';
import { createLogger } from './logger.js';

/** Where a guard reports: a pino logger, or anything with pino's `warn(fields, msg)`. */
export interface WarnLogger {
  warn(fields: object, msg: string): void;
}

let fallbackLogger: Logger | undefined;

/**
 * obskit's own logger, for reports of a feature that was given no logger: JSON lines on
 * standard output, made on first use.
 */
export function defaultLogger(): Logger {
  return (fallbackLogger ??= createLogger());
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return typeof error === 'string' ? error : String(error);
}

/**
 * A reporter for one user callback: the first failure is logged at `warn` with the option's
 * path and the error (`metrics.customLabels.values threw: …`), later ones are not, so a callback
 * that fails on every request writes one line, not one per request.
 */
export function failureReporter(path: string, logger?: WarnLogger): (error: unknown) => void {
  let reported = false;
  return (error) => {
    if (reported) return;
    reported = true;
    (logger ?? defaultLogger()).warn(
      { err: error, option: path },
      `${path} threw: ${messageOf(error)} (obskit carries on; reported once)`,
    );
  };
}

/**
 * Wraps a synchronous user callback: what it returns, or `fallback` when it throws (reported
 * once, see `failureReporter`).
 */
export function guardCallback<A extends unknown[], R, F>(
  fn: (...args: A) => R,
  path: string,
  fallback: F,
  logger?: WarnLogger,
): (...args: A) => R | F {
  const report = failureReporter(path, logger);
  return (...args: A): R | F => {
    try {
      return fn(...args);
    } catch (error) {
      report(error);
      return fallback;
    }
  };
}

/**
 * Wraps a user callback that may return a promise: resolves with its result, or with
 * `fallback` when it throws or rejects (reported once).
 */
export function guardAsyncCallback<A extends unknown[], R, F>(
  fn: (...args: A) => R | PromiseLike<R>,
  path: string,
  fallback: F,
  logger?: WarnLogger,
): (...args: A) => Promise<R | F> {
  const report = failureReporter(path, logger);
  return async (...args: A): Promise<R | F> => {
    try {
      return await fn(...args);
    } catch (error) {
      report(error);
      return fallback;
    }
  };
}
