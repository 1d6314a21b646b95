import type { IncomingMessage } from 'node:http';
import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import {
  isStandardMethod,
  pathOf,
  peekRequestContext,
  requestContextOf,
  runInRequestContext,
} from '@obskit/core/internal';
import { kServerSpan, sharedContextActive } from './context-manager.js';
import { getTracingHandle } from './setup.js';

const VERSION = '0.0.0';

export interface ServerSpan {
  span: Span;
  /** The OpenTelemetry context with the span active (made on first read). */
  readonly context: Context;
  method: string;
  ended: boolean;
}

// The span's OpenTelemetry context copies the parent's map of values; most requests never ask
// for it (nothing in them reads `context.active()`), so it is made on first read.
class ServerSpanState implements ServerSpan {
  ended = false;
  private otelContext: Context | undefined = undefined;
  constructor(
    readonly span: Span,
    private readonly parent: Context,
    readonly method: string,
  ) {}

  get context(): Context {
    return (this.otelContext ??= trace.setSpan(this.parent, this.span));
  }
}

export interface ServerTracing {
  /** Starts the server span of a request, fills the request context, returns the span state. */
  start(req: IncomingMessage): ServerSpan;
  /** Names the span by route, sets the response attributes and ends it (once). */
  end(
    state: ServerSpan,
    route: string | undefined,
    statusCode: number | undefined,
    error?: unknown,
  ): void;
}

/** Whether obskit's tracing runs in this process (`startTracing`, the umbrella or the preload). */
export function tracingActive(): boolean {
  return getTracingHandle()?.enabled === true;
}

/**
 * The HTTP server span per the stable semantic conventions, started by the framework adapter:
 * `http.request.method` (+ `_original`), `url.path`, `url.scheme`, `http.route`,
 * `http.response.status_code`, `error.type`. No header or query values are recorded.
 */
export function createServerTracing(
  tracer: Tracer = trace.getTracer('@obskit/tracing', VERSION),
): ServerTracing {
  return {
    start(req) {
      const parent = propagation.extract(ROOT_CONTEXT, req.headers);
      const original = req.method ?? 'GET';
      const known = isStandardMethod(original);
      const method = known ? original : '_OTHER';
      const encrypted = (req.socket as { encrypted?: boolean } | undefined)?.encrypted === true;
      const attributes: Attributes = {
        'http.request.method': method,
        'url.path': pathOf(req.url),
        'url.scheme': encrypted ? 'https' : 'http',
      };
      if (!known) attributes['http.request.method_original'] = original.slice(0, 64);
      const span = tracer.startSpan(
        known ? method : 'HTTP',
        { kind: SpanKind.SERVER, attributes },
        parent,
      );
      const spanContext = span.spanContext();
      const store = requestContextOf(req);
      store.traceId = spanContext.traceId;
      store.spanId = spanContext.spanId;
      store.traceFlags = (spanContext.traceFlags & 1) === 1 ? '01' : '00';
      return new ServerSpanState(span, parent, known ? method : 'HTTP');
    },
    end(state, route, statusCode, error) {
      if (state.ended) return;
      state.ended = true;
      const { span } = state;
      if (route) {
        span.setAttribute('http.route', route);
        span.updateName(`${state.method} ${route}`);
      }
      if (statusCode !== undefined) span.setAttribute('http.response.status_code', statusCode);
      if (error !== undefined && error !== null) {
        const e = error as { name?: unknown; constructor?: { name?: unknown }; message?: unknown };
        const type =
          typeof e.constructor?.name === 'string' && e.constructor.name !== 'Object'
            ? e.constructor.name
            : typeof e.name === 'string'
              ? e.name
              : '_OTHER';
        span.setAttribute('error.type', type);
        if (error instanceof Error) span.recordException(error);
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: typeof e.message === 'string' ? e.message.slice(0, 200) : undefined,
        });
      } else if (statusCode !== undefined && statusCode >= 500) {
        span.setAttribute('error.type', String(statusCode));
        span.setStatus({ code: SpanStatusCode.ERROR });
      } else if (statusCode === undefined) {
        span.setAttribute('error.type', 'aborted');
      }
      span.end();
    },
  };
}

const kAppError = Symbol.for('obskit.tracing.appError');

/**
 * Notes the error the app raised while serving `req` (Express error middleware sees it; the
 * response alone does not tell it), so the server span records it when it ends.
 */
export function noteRequestError(req: IncomingMessage, error: unknown): void {
  requestContextOf(req)[kAppError] = error;
}

/** The error noted for `req` by `noteRequestError`, if any. */
export function requestErrorOf(req: IncomingMessage): unknown {
  return peekRequestContext(req)?.[kAppError];
}

/**
 * Runs the rest of the request inside the span's OpenTelemetry context and the obskit request
 * context. With obskit's shared context manager that is one store to enter; with another
 * manager (an SDK set up by hand) it is both.
 */
export function runRequestInSpan(req: IncomingMessage, state: ServerSpan, next: () => void): void {
  if (sharedContextActive()) {
    // The shared context manager asks the state for its context when something reads it.
    requestContextOf(req)[kServerSpan] = state;
    runInRequestContext(req, next);
  } else {
    context.with(state.context, () => runInRequestContext(req, next));
  }
}
