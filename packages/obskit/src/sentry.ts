// Errors to Sentry, tagged so that an event leads to its request, its route and its trace.
// `@sentry/node` is an optional peer dependency: obskit calls only the SDK's public scope API,
// on the SDK the application initialised itself (`Sentry.init({ dsn })`).
import { errorTypeOf } from '@obskit/core/internal';
import type { ErrorInfo } from './request-log.js';

/** The part of a Sentry scope obskit uses (`@sentry/node`'s `Scope`). */
export interface SentryScope {
  setTag(key: string, value: string): unknown;
  setContext(name: string, context: Record<string, unknown> | null): unknown;
  setTransactionName?(name?: string): unknown;
  setPropagationContext?(context: {
    traceId: string;
    sampleRand: number;
    propagationSpanId?: string;
    sampled?: boolean;
  }): unknown;
}

/** The part of `@sentry/node` obskit uses: pass the module itself (`import * as Sentry`). */
export interface SentryLike {
  withScope(callback: (scope: SentryScope) => void): unknown;
  captureException(exception: unknown): unknown;
}

/** What both request and job failures tell (`ErrorInfo`, `JobErrorInfo`). */
export type FailureInfo =
  ErrorInfo | { name: string; reqId: string | undefined; traceId: string; spanId: string };

export interface SentryOnErrorOptions {
  /** More tags for each event, from what obskit knows of the failure. */
  tags?: (info: FailureInfo) => Record<string, string>;
}

/**
 * An `onError` for the obskit umbrella (and for job workers' `runWithTraceContext`) that
 * reports each failure to Sentry: tagged `reqId`, `route` (or `job`), `status_code`, `method`,
 * `error.type`, and `trace_id`/`span_id`, named by the route template (`GET /orders/:id/pay`) or
 * the job; the event's trace context is the OpenTelemetry trace's, so Sentry's
 * "trace" links lead to the same trace as the logs and the exemplars.
 */
export function sentryOnError(
  sentry: SentryLike,
  options: SentryOnErrorOptions = {},
): (err: unknown, info: FailureInfo) => void {
  return (err, info) => {
    sentry.withScope((scope) => {
      // The class name, as the span's error.type and the log line's err.type give it (Sentry's
      // own exception type is the error's `name`).
      scope.setTag('error.type', errorTypeOf(err));
      if (info.reqId !== undefined) scope.setTag('reqId', info.reqId);
      if ('request' in info) {
        scope.setTag('route', info.route ?? '__unmatched__');
        scope.setTag('status_code', String(info.statusCode));
        scope.setTag('method', info.request.method ?? '');
        // The route template, not the raw URL: one transaction per route, whatever its ids.
        scope.setTransactionName?.(`${info.request.method ?? ''} ${info.route ?? '__unmatched__'}`);
      } else {
        scope.setTag('job', info.name);
        scope.setTransactionName?.(info.name);
      }
      if (info.traceId !== undefined) {
        scope.setTag('trace_id', info.traceId);
        if (info.spanId !== undefined) scope.setTag('span_id', info.spanId);
        scope.setPropagationContext?.({
          traceId: info.traceId,
          sampleRand: Math.random(),
          ...(info.spanId === undefined ? {} : { propagationSpanId: info.spanId }),
        });
        scope.setContext('otel', { trace_id: info.traceId, span_id: info.spanId ?? null });
      }
      for (const [key, value] of Object.entries(options.tags?.(info) ?? {}))
        scope.setTag(key, value);
      sentry.captureException(err);
    });
  };
}

/**
 * A graceful-shutdown hook that sends what Sentry still holds, within `timeoutMs` (2000 by
 * default): `health: { shutdown: { onShutdown: sentryFlush(Sentry) } }`. Without it, events of
 * failures just before or during the drain can be lost when the process exits.
 */
export function sentryFlush(
  sentry: { flush(timeout?: number): PromiseLike<boolean> },
  timeoutMs = 2000,
): () => Promise<void> {
  return async () => {
    await sentry.flush(timeoutMs);
  };
}
