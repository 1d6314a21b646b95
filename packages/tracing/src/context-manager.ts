import { ROOT_CONTEXT, trace, type Context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { requestContextStorage, traceFlagsText, type RequestContext } from '@obskit/core/internal';

/** Where the OpenTelemetry context lives inside the obskit request context. */
export const kOtelContext = Symbol.for('obskit.tracing.otelContext');
/** Where the request's server span state lives; its OpenTelemetry context is made on demand. */
export const kServerSpan = Symbol.for('obskit.tracing.serverSpan');

const storage = requestContextStorage();

/**
 * An OpenTelemetry context manager that keeps the active context inside obskit's request
 * context, so one AsyncLocalStorage serves both: one store to enter per request instead of two.
 * Event emitter binding is inherited from the standard AsyncLocalStorage manager.
 */
export class SharedContextManager extends AsyncLocalStorageContextManager {
  override active(): Context {
    const store = storage.getStore();
    if (store === undefined) return ROOT_CONTEXT;
    const active = store[kOtelContext] as Context | undefined;
    if (active !== undefined) return active;
    const server = store[kServerSpan] as { readonly context: Context } | undefined;
    if (server === undefined) return ROOT_CONTEXT;
    return (store[kOtelContext] = server.context);
  }

  override with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    const cb = thisArg == null ? fn : (fn.bind(thisArg) as F);
    const current = storage.getStore();
    if (current !== undefined && current[kOtelContext] === context) return cb(...args);
    const next: RequestContext = { ...current, [kOtelContext]: context };
    // Log lines written inside a nested span carry that span's ids.
    const span = trace.getSpanContext(context);
    if (span !== undefined && trace.isSpanContextValid(span)) {
      next.traceId = span.traceId;
      next.spanId = span.spanId;
      next.traceFlags = traceFlagsText(span.traceFlags);
    }
    return storage.run(next, cb, ...args);
  }
}
