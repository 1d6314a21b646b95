import type { IncomingMessage, ServerResponse } from 'node:http';
import { bindEmitterToContext, requestContextStorage, type RequestContext } from './context.js';

/** Where a raw request keeps its record (one symbol property, set on first use). */
export const kContext = Symbol.for('obskit.core.requestContext');

/**
 * How a response ended: `finished` (the last byte was handed to the OS), `aborted` (the client
 * closed the connection first) or `error` (the response stream failed).
 */
export type ResponseOutcome = 'finished' | 'aborted' | 'error';

/** What is told when a response is done: a pipeline's end steps, or an `onResponseDone` callback. */
export interface ResponseEnder {
  end(req: IncomingMessage, res: ServerResponse, record: RequestRecord): void;
}

/**
 * The one record obskit keeps per request: the request context every log line reads (`reqId`,
 * trace ids) and what the features' pipeline steps share, filled as the request goes on.
 */
export interface RequestRecord extends RequestContext {
  /** `performance.now()` when the request's pipeline began. */
  start: number;
  /** The matched route template, once known (at begin on Fastify, at the end on Express). */
  route: string | undefined;
  /** The path of the obskit endpoint the request was sent to (`/metrics`, a probe), if any. */
  endpoint: string | undefined;
  /** The first error the app raised while serving the request. */
  error: unknown;
  /** The server span's state, when tracing made one. */
  span: unknown;
  /** Counted by the HTTP metrics (in flight now, recorded when done). */
  counted: boolean;
  /** Gets an access line when done. */
  logged: boolean;
  /** Set once the response is done. */
  outcome: ResponseOutcome | undefined;
  /** The status reported for the response once done (499 aborted, 500 failed before its head). */
  statusCode: number;
  /** The error the response stream failed with, if it did. */
  failure: Error | undefined;
  /** Set once the connection was upgraded (WebSocket). */
  upgraded: boolean;
  /** Who is told when the response is done, in order; undefined until one asks. */
  enders: ResponseEnder[] | undefined;
}

type Carrier = IncomingMessage & { [kContext]?: RequestRecord };

const storage = requestContextStorage();

// Instances of a class rather than `{}` literals, with every field set in the constructor: one
// shape for every record, and V8 may otherwise allocate a literal site's objects straight into
// the old generation once enough of them outlive a scavenge (see "Request contexts" in
// docs/benchmarks.md).
class Request implements RequestRecord {
  [key: symbol]: unknown;
  reqId: string | undefined = undefined;
  traceId: string | undefined = undefined;
  spanId: string | undefined = undefined;
  traceFlags: string | undefined = undefined;
  bindings: Record<string, unknown> | undefined = undefined;
  start = 0;
  route: string | undefined = undefined;
  endpoint: string | undefined = undefined;
  error: unknown = undefined;
  span: unknown = undefined;
  counted = false;
  logged = false;
  outcome: ResponseOutcome | undefined = undefined;
  statusCode = 0;
  failure: Error | undefined = undefined;
  upgraded = false;
  enders: ResponseEnder[] | undefined = undefined;
}

/**
 * The record of a raw Node request, created on first use. Every obskit feature of one request
 * shares it, whichever runs first.
 */
export function requestContextOf(req: IncomingMessage): RequestRecord {
  return ((req as Carrier)[kContext] ??= new Request());
}

/** The record of a raw request if one was created, without creating one. */
export function peekRequestContext(req: IncomingMessage): RequestRecord | undefined {
  return (req as Carrier)[kContext];
}

// From the raw header list: reading `req.headers` makes Node build the whole header object,
// which a GET on Fastify otherwise never needs.
function hasBody(req: IncomingMessage): boolean {
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 14 && name.toLowerCase() === 'content-length') {
      if (raw[i + 1] !== '0') return true;
    } else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') return true;
  }
  return false;
}

/**
 * Runs `next` (the rest of the request: later hooks, middleware, the handler) inside the
 * request's context. When the request has a body, listeners on the request stream are bound to
 * the context too, so body parsers hand the context on. Called again for the same request from
 * inside that context, it just calls `next`.
 */
export function runInRequestContext(req: IncomingMessage, next: () => void): void {
  const context = requestContextOf(req);
  if (storage.getStore() === context) {
    next();
    return;
  }
  if (hasBody(req)) bindEmitterToContext(req, context);
  storage.run(context, next);
}
