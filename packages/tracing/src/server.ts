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
  invalidOption,
  isStandardMethod,
  noteRequestError,
  pathOf,
  requestContextOf,
  requestErrorOf,
  runInRequestContext,
  traceFlagsText,
  type RequestContext,
} from '@obskit/core/internal';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_PATH,
  ATTR_URL_QUERY,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';
import { kServerSpan } from './context-manager.js';
import { recordError } from './errors.js';
import { getTracingHandle, sharedContextActive } from './setup.js';

const VERSION = '0.0.0';
const MAX_HEADER = 1024;

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

export interface ServerTracingOptions {
  /**
   * Record `url.query` (Conditionally Required by the HTTP conventions when a query was received),
   * with the values of the parameters known to carry secrets replaced by `REDACTED`
   * (`DEFAULT_REDACTED_QUERY_PARAMETERS`: the conventions' signature parameters, tokens, keys,
   * passwords, OAuth codes; names compared without case), and of your own: `{ redact: ['ssn'] }`.
   * Default true; `false` records no query.
   */
  urlQuery?: boolean | { redact?: string[] };
}

export interface ServerTracing {
  /** Starts the server span of a request, fills the request context, returns the span state. */
  start(req: IncomingMessage, record?: RequestContext): ServerSpan;
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
 * Query parameters whose values `url.query` never shows: those the HTTP semantic conventions ask
 * to redact (`AWSAccessKeyId`, `Signature`, `sig`, `X-Goog-Signature`), and the usual carriers of
 * credentials (compared without case).
 */
export const DEFAULT_REDACTED_QUERY_PARAMETERS: readonly string[] = Object.freeze([
  'AWSAccessKeyId',
  'Signature',
  'sig',
  'X-Goog-Signature',
  'X-Goog-Credential',
  'X-Amz-Signature',
  'X-Amz-Credential',
  'X-Amz-Security-Token',
  'access_token',
  'refresh_token',
  'id_token',
  'token',
  'api_key',
  'apikey',
  'key',
  'password',
  'passwd',
  'secret',
  'client_secret',
  'code',
  'auth',
]);

function queryRecorder(
  option: ServerTracingOptions['urlQuery'],
): ((url: string) => string | undefined) | undefined {
  if (option === false) return undefined;
  if (
    option !== undefined &&
    option !== true &&
    (typeof option !== 'object' ||
      option === null ||
      (option.redact !== undefined &&
        (!Array.isArray(option.redact) || option.redact.some((n) => typeof n !== 'string'))))
  ) {
    throw invalidOption('tracing.urlQuery', 'a boolean or { redact: [parameter names] }', option);
  }
  const redact = new Set(
    [
      ...DEFAULT_REDACTED_QUERY_PARAMETERS,
      ...(option === undefined || option === true ? [] : (option.redact ?? [])),
    ].map((name) => name.toLowerCase()),
  );
  return (url) => {
    const q = url.indexOf('?');
    if (q === -1) return undefined;
    const parts = url.slice(q + 1).split('&');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as string;
      const eq = part.indexOf('=');
      const name = eq === -1 ? part : part.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // An undecodable name is compared as sent.
        decoded = name;
      }
      if (eq !== -1 && redact.has(decoded.toLowerCase())) parts[i] = `${name}=REDACTED`;
    }
    return parts.join('&').slice(0, MAX_HEADER);
  };
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  const text = Array.isArray(value) ? value[0] : value;
  return text === undefined || text.length > MAX_HEADER ? undefined : text;
}

// `Host` split into name and port (`[::1]:8080` included); the local port when Host has none.
function serverOf(req: IncomingMessage): { address?: string; port?: number } {
  const host = headerValue(req, 'host');
  const local = req.socket?.localPort;
  if (host === undefined || host === '') return local === undefined ? {} : { port: local };
  const bracket = host.startsWith('[') ? host.indexOf(']') : -1;
  const colon = host.lastIndexOf(':');
  if (colon > bracket && colon !== -1) {
    const port = Number(host.slice(colon + 1));
    return {
      address: host.slice(0, colon),
      ...(Number.isInteger(port) && port > 0 && port < 65536 ? { port } : {}),
    };
  }
  return { address: host, ...(local === undefined ? {} : { port: local }) };
}

/**
 * The HTTP server span per the stable semantic conventions, started by the framework adapter:
 * `http.request.method` (+ `_original`), `url.path`, `url.scheme`, `http.route`,
 * `http.response.status_code`, `error.type`, and the recommended `server.address`,
 * `server.port`, `network.protocol.version`, `user_agent.original`, `client.address`
 * (`url.query` when asked). No other header values are recorded.
 */
export function createServerTracing(
  options: ServerTracingOptions = {},
  tracer: Tracer = trace.getTracer('@obskit/tracing', VERSION),
): ServerTracing {
  const query = queryRecorder(options.urlQuery);
  return {
    start(req, store = requestContextOf(req)) {
      const parent = propagation.extract(ROOT_CONTEXT, req.headers);
      const original = req.method ?? 'GET';
      const known = isStandardMethod(original);
      const method = known ? original : '_OTHER';
      const socket = req.socket as (IncomingMessage['socket'] & { encrypted?: boolean }) | null;
      const attributes: Attributes = {
        [ATTR_HTTP_REQUEST_METHOD]: method,
        [ATTR_URL_PATH]: pathOf(req.url),
        [ATTR_URL_SCHEME]: socket?.encrypted === true ? 'https' : 'http',
        [ATTR_NETWORK_PROTOCOL_VERSION]: req.httpVersion,
      };
      if (!known) attributes[ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = original.slice(0, 64);
      const server = serverOf(req);
      if (server.address !== undefined) attributes[ATTR_SERVER_ADDRESS] = server.address;
      if (server.port !== undefined) attributes[ATTR_SERVER_PORT] = server.port;
      const agent = headerValue(req, 'user-agent');
      if (agent !== undefined) attributes[ATTR_USER_AGENT_ORIGINAL] = agent;
      const client = socket?.remoteAddress;
      if (client !== undefined) attributes[ATTR_CLIENT_ADDRESS] = client;
      if (query !== undefined && req.url !== undefined) {
        const recorded = query(req.url);
        if (recorded !== undefined) attributes[ATTR_URL_QUERY] = recorded;
      }
      const span = tracer.startSpan(
        known ? method : 'HTTP',
        { kind: SpanKind.SERVER, attributes },
        parent,
      );
      const spanContext = span.spanContext();
      store.traceId = spanContext.traceId;
      store.spanId = spanContext.spanId;
      store.traceFlags = traceFlagsText(spanContext.traceFlags);
      return new ServerSpanState(span, parent, known ? method : 'HTTP');
    },
    end(state, route, statusCode, error) {
      if (state.ended) return;
      state.ended = true;
      const { span } = state;
      if (route) {
        span.setAttribute(ATTR_HTTP_ROUTE, route);
        span.updateName(`${state.method} ${route}`);
      }
      if (statusCode !== undefined) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, statusCode);
      if (error !== undefined && error !== null) recordError(span, error);
      else if (statusCode !== undefined && statusCode >= 500) {
        span.setAttribute(ATTR_ERROR_TYPE, String(statusCode));
        span.setStatus({ code: SpanStatusCode.ERROR });
      } else if (statusCode === undefined) {
        span.setAttribute(ATTR_ERROR_TYPE, 'aborted');
      }
      span.end();
    },
  };
}

// Errors noted while serving a request live in core, shared with the umbrella's error line.
export { noteRequestError, requestErrorOf };

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
