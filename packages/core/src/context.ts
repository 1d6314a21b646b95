import { AsyncLocalStorage } from 'node:async_hooks';
import type { EventEmitter } from 'node:events';

/**
 * What obskit keeps for the request being served. Adapters create it at the start of a request;
 * request-id fills `reqId`, tracing fills the trace fields, and `bindings` adds fields to every
 * log line written through the obskit logger during the request.
 */
export interface RequestContext {
  reqId?: string;
  /** 32 lower-case hex characters of the active trace, when tracing runs. */
  traceId?: string;
  /** 16 lower-case hex characters of the request's server span. */
  spanId?: string;
  /** Two hex characters: `01` when sampled. */
  traceFlags?: string;
  /** Extra fields for every log line of the request. */
  bindings?: Record<string, unknown>;
  /** Room for integrations (the tracing package keeps its OpenTelemetry context here). */
  [key: symbol]: unknown;
}

const kStorage = Symbol.for('obskit.core.requestContextStorage');

// One storage per process, even when the ESM and the CommonJS builds of @obskit/core are both
// loaded (a `--require` preload beside an ESM app): two storages would hide each other's values.
const storage: AsyncLocalStorage<RequestContext> =
  ((globalThis as Record<symbol, unknown>)[kStorage] as
    AsyncLocalStorage<RequestContext> | undefined) ??
  (((globalThis as Record<symbol, unknown>)[kStorage] =
    new AsyncLocalStorage<RequestContext>()) as AsyncLocalStorage<RequestContext>);

/**
 * The storage itself, for integrations that share it (OpenTelemetry's context manager in
 * `@obskit/tracing` keeps its context inside the request context: one store per request).
 */
export function requestContextStorage(): AsyncLocalStorage<RequestContext> {
  return storage;
}

/** The context of the request being served, or `undefined` outside a request. */
export function getRequestContext(): RequestContext | undefined {
  return storage.getStore();
}

/** Runs `fn` (and everything it schedules) inside `context`. */
export function runWithRequestContext<R, A extends unknown[]>(
  context: RequestContext,
  fn: (...args: A) => R,
  ...args: A
): R {
  return storage.run(context, fn, ...args);
}

const kBound = Symbol('obskit.core.boundEmitter');

type Listener = (...args: unknown[]) => unknown;
type AddListener = (event: string | symbol, listener: Listener) => EventEmitter;

/**
 * Makes listeners added to `emitter` from now on run inside `context`. Request bodies are read
 * from stream events that Node emits outside the request's async context, so a body parser's
 * callback (`express.json()`, `raw-body`) would otherwise lose it. Each wrapped listener keeps a
 * `listener` property, which `removeListener` honours, so removal by the original function works.
 */
export function bindEmitterToContext(emitter: EventEmitter, context: RequestContext): void {
  const target = emitter as EventEmitter & { [kBound]?: true };
  if (target[kBound]) return;
  target[kBound] = true;
  const on = emitter.on as AddListener;
  const prepend = emitter.prependListener as AddListener;

  const wrap = (listener: Listener): Listener => {
    const wrapped = function (this: unknown, ...args: unknown[]): unknown {
      return storage.run(context, () => listener.apply(this, args));
    } as Listener & { listener?: Listener };
    wrapped.listener = listener;
    return wrapped;
  };
  const wrapOnce = (event: string | symbol, listener: Listener): Listener => {
    let fired = false;
    const wrapped = function (this: EventEmitter, ...args: unknown[]): unknown {
      this.removeListener(event, wrapped);
      if (fired) return undefined;
      fired = true;
      return storage.run(context, () => listener.apply(this, args));
    } as Listener & { listener?: Listener };
    wrapped.listener = listener;
    return wrapped;
  };

  const add = (base: AddListener) =>
    function (this: EventEmitter, event: string | symbol, listener: Listener): EventEmitter {
      return base.call(this, event, typeof listener === 'function' ? wrap(listener) : listener);
    };
  const addOnce = (base: AddListener) =>
    function (this: EventEmitter, event: string | symbol, listener: Listener): EventEmitter {
      return base.call(
        this,
        event,
        typeof listener === 'function' ? wrapOnce(event, listener) : listener,
      );
    };
  emitter.on = emitter.addListener = add(on) as EventEmitter['on'];
  emitter.prependListener = add(prepend) as EventEmitter['prependListener'];
  emitter.once = addOnce(on) as EventEmitter['once'];
  emitter.prependOnceListener = addOnce(prepend) as EventEmitter['prependOnceListener'];
}
