import diagnosticsChannel from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Span,
  type TextMapSetter,
  type Tracer,
} from '@opentelemetry/api';
import {
  addOutgoingInjector,
  errorCodeOf,
  INJECT,
  isStandardMethod,
  type OutgoingCall,
} from '@obskit/core/internal';
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

// node:http: the response head arrived, or the request failed.
const HTTP_RESPONSE = 'http.client.response.finish';
const HTTP_ERROR = 'http.client.request.error';
// undici (fetch): the response head arrived, or the request failed.
const UNDICI_HEADERS = 'undici:request:headers';
const UNDICI_ERROR = 'undici:request:error';

// Each call's span, keyed by the client's request object, until its response head or its error.
const spans = new WeakMap<object, Span>();

const setter: TextMapSetter<OutgoingCall> = {
  set(call, key, value) {
    call.set(key, value);
  },
};

function end(request: object, status: number): void {
  const span = spans.get(request);
  if (span === undefined) return;
  spans.delete(request);
  span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
  if (status >= 400) {
    span.setAttribute(ATTR_ERROR_TYPE, String(status));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

function fail(request: object, error: unknown): void {
  const span = spans.get(request);
  if (span === undefined) return;
  spans.delete(request);
  // A call the caller aborted is not an error of the call (the HTTP conventions). Otherwise the
  // error's code (ECONNREFUSED, UND_ERR_SOCKET) is its type.
  if ((error as { name?: unknown } | null)?.name !== 'AbortError') {
    recordError(span, error, errorCodeOf(error));
  }
  span.end();
}

const onHttpResponse = (message: unknown): void => {
  const { request, response } = message as { request: object; response: IncomingMessage };
  end(request, response.statusCode ?? 0);
};
const onUndiciHeaders = (message: unknown): void => {
  const { request, response } = message as { request: object; response: { statusCode: number } };
  end(request, response.statusCode);
};
const onError = (message: unknown): void => {
  const { request, error } = message as { request: object; error: unknown };
  fail(request, error);
};

/**
 * CLIENT spans for outgoing calls, `fetch` (undici) and `node:http`/`node:https` alike, with
 * `traceparent`, `tracestate` and baggage injected through core's one outgoing injection (the
 * request id goes out there too), from the diagnostics channels the clients publish as a request
 * is created (before its headers are written), answered and failed: nothing is patched, so it
 * works whatever was loaded first. `node:http` needs `http.client.request.created` (Node.js 22.14
 * and later). Stable HTTP client conventions; the span ends when the response head arrives.
 * `fields` are the propagators' header names, lower case: a call that carries one of them (a
 * proxy forwarding its own) keeps it and gets no span. Returns a function that stops.
 */
export function traceOutgoingCalls(tracer: Tracer, fields: readonly string[]): () => void {
  const remove = addOutgoingInjector({
    order: INJECT.traceContext,
    inject(call) {
      // The SDK's own calls (the OTLP exporter's, which the batch processor runs with tracing
      // suppressed) are never traced.
      const active = context.active();
      if (isTracingSuppressed(active)) return;
      for (const field of fields) if (call.has(field)) return;
      const { method, scheme, host, port } = call;
      const known = isStandardMethod(method);
      const authority = host.includes(':') ? `[${host}]` : host;
      const defaultPort = scheme === 'https' ? 443 : 80;
      const span = tracer.startSpan(
        known ? method : 'HTTP',
        {
          kind: SpanKind.CLIENT,
          attributes: {
            [ATTR_HTTP_REQUEST_METHOD]: known ? method : '_OTHER',
            ...(known ? {} : { [ATTR_HTTP_REQUEST_METHOD_ORIGINAL]: method }),
            [ATTR_SERVER_ADDRESS]: host,
            [ATTR_SERVER_PORT]: port,
            [ATTR_URL_FULL]: `${scheme}://${authority}${port === defaultPort ? '' : `:${port}`}${call.path}`,
          },
        },
        active,
      );
      spans.set(call.request, span);
      propagation.inject(trace.setSpan(active, span), call, setter);
    },
  });
  diagnosticsChannel.subscribe(HTTP_RESPONSE, onHttpResponse);
  diagnosticsChannel.subscribe(HTTP_ERROR, onError);
  diagnosticsChannel.subscribe(UNDICI_HEADERS, onUndiciHeaders);
  diagnosticsChannel.subscribe(UNDICI_ERROR, onError);
  return () => {
    remove();
    diagnosticsChannel.unsubscribe(HTTP_RESPONSE, onHttpResponse);
    diagnosticsChannel.unsubscribe(HTTP_ERROR, onError);
    diagnosticsChannel.unsubscribe(UNDICI_HEADERS, onUndiciHeaders);
    diagnosticsChannel.unsubscribe(UNDICI_ERROR, onError);
  };
}
