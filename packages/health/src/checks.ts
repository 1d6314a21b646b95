import { monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { CheckDefinition, CheckFn, CheckResult } from './types.js';

const MAX_ERROR_LENGTH = 200;

/** A short, safe error text: the first line of the message, bounded, never a stack. */
export function safeError(error: unknown): string {
  const raw =
    error instanceof Error ? error.message : typeof error === 'string' ? error : 'check failed';
  const line = (raw.split('\n')[0] ?? '').trim() || 'check failed';
  return line.length > MAX_ERROR_LENGTH ? `${line.slice(0, MAX_ERROR_LENGTH - 1)}…` : line;
}

export interface ResolvedCheck {
  name: string;
  check: CheckFn;
  critical: boolean;
  timeoutMs: number;
}

/** Runs one check under its timeout; a check that throws, rejects or never settles fails. */
export function runCheck(def: ResolvedCheck): Promise<CheckResult> {
  const started = performance.now();
  const result = (status: 'healthy' | 'unhealthy', extra: Partial<CheckResult>): CheckResult => ({
    status,
    critical: def.critical,
    durationMs: Math.round((performance.now() - started) * 10) / 10,
    ...extra,
  });
  return new Promise<CheckResult>((resolve) => {
    const timer = setTimeout(
      () => resolve(result('unhealthy', { error: `timed out after ${def.timeoutMs} ms` })),
      def.timeoutMs,
    );
    timer.unref();
    let outcome: Promise<unknown>;
    try {
      outcome = Promise.resolve(def.check());
    } catch (error) {
      outcome = Promise.reject(error);
    }
    outcome.then(
      (details) => {
        clearTimeout(timer);
        resolve(result('healthy', details === undefined || details === true ? {} : { details }));
      },
      (error: unknown) => {
        clearTimeout(timer);
        resolve(result('unhealthy', { error: safeError(error) }));
      },
    );
  });
}

/**
 * Event-loop delay over the last interval (p99 of `monitorEventLoopDelay`); fails above `maxMs`.
 * Non-critical by default: a busy loop should take the pod out of rotation only if you say so.
 */
export function eventLoopDelayCheck(
  options: { maxMs?: number; critical?: boolean } = {},
): CheckDefinition {
  const maxMs = options.maxMs ?? 200;
  const histogram = monitorEventLoopDelay({ resolution: 20 });
  histogram.enable();
  return {
    critical: options.critical ?? false,
    check: () => {
      const p99 = histogram.percentile(99) / 1e6;
      histogram.reset();
      const details = { p99Ms: Math.round(p99 * 10) / 10, maxMs };
      if (p99 > maxMs)
        throw new Error(`event loop delay p99 ${details.p99Ms} ms is above ${maxMs} ms`);
      return details;
    },
  };
}

/** Heap use as a share of the heap limit; fails above `maxRatio` (default 0.9). Non-critical by default. */
export function heapUsedCheck(
  options: { maxRatio?: number; critical?: boolean } = {},
): CheckDefinition {
  const maxRatio = options.maxRatio ?? 0.9;
  return {
    critical: options.critical ?? false,
    check: () => {
      const { used_heap_size: used, heap_size_limit: limit } = getHeapStatistics();
      const ratio = Math.round((used / limit) * 1000) / 1000;
      if (ratio > maxRatio) throw new Error(`heap use ${ratio} of the limit is above ${maxRatio}`);
      return { ratio, maxRatio };
    },
  };
}
