import diagnosticsChannel from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';
import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { isStandardMethod } from '@obskit/core/internal';
import { isTracingSuppressed } from '@opentelemetry/core';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
} from '@opentelemetry/semantic-conventions';
import { recordError } from './errors.js';

const CREATED = 'http.client.request.created';
const RESPONSE = 'http.client.response.finish';
const ERROR = 'http.client.request.error';

// Each request's span, until its response arrives or it fails.
const spans = new WeakMap<ClientRequest, Span>();

const setter = {
  set(request: ClientRequest, key: string, value: string): void {
    request.setHeader(key, value);
  },
};

// A call that carries trace context of its own (a proxy forwarding it) keeps it: no span.
function setsTraceContext(request: ClientRequest): boolean {
  return propagation.fields().some((field) => request.getHeader(field) !== undefined);
}

function portOf(request: ClientRequest): number | undefined {
  const host = request.getHeader('host');
  if (typeof host === 'string') {
    const colon = host.lastIndexOf(':');
    if (colon > host.lastIndexOf(']')) {
      const port = Number(host.slice(colon + 1));
      if (Number.isInteger(port) && port > 0) return port;
    }
  }
  return request.protocol === 'https:' ? 443 : 80;
}

/**
 * CLIENT spans for outgoing `node:http`/`node:https` calls, with `traceparent`, `tracestate` and
 * baggage injected, from the diagnostics channels Node.js publishes as a request is created
 * (before its headers are written), answered and failed: nothing is patched, so it works
 * whatever was loaded first. Needs `http.client.request.created` (Node.js 22.14 and later).
 * Stable HTTP client conventions; the span ends when the response head arrives. Returns a
 * function that stops.
 */
export function traceOutgoingHttp(tracer: Tracer): () => void {
  const onCreated = (message: unknown): void => {
    const { request } = message as { request: ClientRequest };
    // The SDK's own calls (the OTLP exporter's, which the batch processor runs with tracing
    // suppressed) are never traced, and calls that carry trace context already keep theirs.
    if (request.headersSent || isTracingSuppressed(context.active()) || setsTraceContext(request))
      return;
    const original = request.method;
    const known = isStandardMethod(original);
    const port = portOf(request);
    const scheme = request.protocol === 'https:' ? 'https' : 'http';
    const defaultPort = scheme === 'https' ? 443 : 80;
    const span = tracer.startSpan(known ? original : 'HTTP', {
      kind: SpanKind.CLIENT,
      attributes: {
        [ATTR_HTTP_REQUEST_METHOD]: known ? original : '_OTHER',
        ...(known ? {} : { [ATTR_HTTP_REQUEST_METHOD_ORIGINAL]: original }),
        [ATTR_SERVER_ADDRESS]: request.host,
        ...(port === undefined ? {} : { [ATTR_SERVER_PORT]: port }),
        [ATTR_URL_FULL]: `${scheme}://${request.host}${port === defaultPort ? '' : `:${port}`}${request.path}`,
      },
    });
    spans.set(request, span);
    propagation.inject(trace.setSpan(context.active(), span), request, setter);
  };
  const onResponse = (message: unknown): void => {
    const { request, response } = message as { request: ClientRequest; response: IncomingMessage };
    const span = spans.get(request);
    if (span === undefined) return;
    spans.delete(request);
    const status = response.statusCode ?? 0;
    span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    if (status >= 400) {
      span.setAttribute(ATTR_ERROR_TYPE, String(status));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  };
  const onError = (message: unknown): void => {
    const { request, error } = message as { request: ClientRequest; error: unknown };
    const span = spans.get(request);
    if (span === undefined) return;
    spans.delete(request);
    recordError(span, error);
    span.end();
  };
  diagnosticsChannel.subscribe(CREATED, onCreated);
  diagnosticsChannel.subscribe(RESPONSE, onResponse);
  diagnosticsChannel.subscribe(ERROR, onError);
  return () => {
    diagnosticsChannel.unsubscribe(CREATED, onCreated);
    diagnosticsChannel.unsubscribe(RESPONSE, onResponse);
    diagnosticsChannel.unsubscribe(ERROR, onError);
  };
}
