import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Attributes,
  type Span,
} from '@opentelemetry/api';
import {
  getRequestContext,
  guardCallback,
  runWithRequestContext,
  traceFlagsText,
} from '@obskit/core/internal';
import { recordError } from './errors.js';

/** What travels with a job: W3C `traceparent`, and `tracestate` and `baggage` when present. */
export interface TraceCarrier {
  traceparent?: string;
  tracestate?: string;
  baggage?: string;
}

/** The trace context of the current span as a plain object, to store with a job. */
export function injectTraceContext(): TraceCarrier {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier;
}

/** What a job's `onError` is told besides the error. */
export interface JobErrorInfo {
  /** The job span's name. */
  name: string;
  reqId: string | undefined;
  traceId: string;
  spanId: string;
}

export interface JobSpanOptions {
  /** Start a new trace linked to the producer's span instead of continuing it. Default false. */
  link?: boolean;
  attributes?: Attributes;
  /** The request id of the request that made the job: log lines inside carry it as `reqId`. */
  reqId?: string;
  /**
   * Called once when the job fails, before the error is rethrown; one that throws is reported
   * once and ignored (the same shape as the umbrella's `onError`, for job workers).
   */
  onError?: (err: unknown, info: JobErrorInfo) => void;
}

const tracer = () => trace.getTracer('@obskit/tracing');

async function runInSpan<T>(span: Span, fn: (span: Span) => T | Promise<T>): Promise<T> {
  const sc = span.spanContext();
  const ids = {
    traceId: sc.traceId,
    spanId: sc.spanId,
    traceFlags: traceFlagsText(sc.traceFlags),
  };
  try {
    // The request context is read inside the span's context: with the shared context manager it
    // holds the OpenTelemetry context too, and must keep the new one.
    return await context.with(trace.setSpan(context.active(), span), () =>
      runWithRequestContext({ ...getRequestContext(), ...ids }, () => fn(span)),
    );
  } catch (error) {
    recordError(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/**
 * Runs a job's work inside the trace that produced it, under a CONSUMER span named `name`. By
 * default the span is a child of the producer's span (one trace from request to job); with
 * `link: true` it starts a new trace with a link to the producer (for batch consumers or long
 * delays). Errors are recorded on the span and rethrown. Inside, obskit log lines carry the
 * trace ids.
 */
export function runWithTraceContext<T>(
  carrier: TraceCarrier | undefined | null,
  name: string,
  fn: (span: Span) => T | Promise<T>,
  options: JobSpanOptions = {},
): Promise<T> {
  const parent = propagation.extract(ROOT_CONTEXT, carrier ?? {});
  const producer = trace.getSpanContext(parent);
  const span =
    options.link === true
      ? tracer().startSpan(
          name,
          {
            kind: SpanKind.CONSUMER,
            attributes: options.attributes,
            root: true,
            links: producer ? [{ context: producer }] : [],
          },
          ROOT_CONTEXT,
        )
      : tracer().startSpan(
          name,
          { kind: SpanKind.CONSUMER, attributes: options.attributes },
          parent,
        );
  const onError =
    options.onError === undefined
      ? undefined
      : guardCallback(options.onError, 'jobs.onError', undefined);
  const { reqId } = options;
  const run = async (): Promise<T> => {
    try {
      return await runInSpan(span, fn);
    } catch (error) {
      const { traceId, spanId } = span.spanContext();
      onError?.(error, { name, reqId, traceId, spanId });
      throw error;
    }
  };
  // A job starts from a clean request context (its request id only): nothing of the code that
  // scheduled it leaks in.
  return runWithRequestContext(reqId === undefined ? {} : { reqId }, () =>
    context.with(options.link === true ? ROOT_CONTEXT : parent, run),
  );
}

/** Runs `fn` in a child span of the active one (a job step); records errors and rethrows. */
export function withSpan<T>(
  name: string,
  options: { attributes?: Attributes; kind?: SpanKind },
  fn: (span: Span) => T | Promise<T>,
): Promise<T> {
  const span = tracer().startSpan(name, {
    kind: options.kind ?? SpanKind.INTERNAL,
    attributes: options.attributes,
  });
  return runInSpan(span, fn);
}
