import type { IncomingMessage } from 'node:http';
import { bindEmitterToContext, requestContextStorage, type RequestContext } from './context.js';

/** Where a raw request keeps its request context (one symbol property, set on first use). */
export const kContext = Symbol.for('obskit.core.requestContext');

type Carrier = IncomingMessage & { [kContext]?: RequestContext };

const storage = requestContextStorage();

// Instances of a class rather than `{}` literals: V8 may decide to allocate a literal site's
// objects straight into the old generation once enough of them outlive a scavenge, as request
// contexts do (see "Request contexts" in docs/benchmarks.md).
class Context implements RequestContext {
  [key: symbol]: unknown;
}

/**
 * The request context of a raw Node request, created on first use. Every obskit feature of one
 * request shares it, whichever runs first.
 */
export function requestContextOf(req: IncomingMessage): RequestContext {
  return ((req as Carrier)[kContext] ??= new Context());
}

/** The request context of a raw request if one was created, without creating one. */
export function peekRequestContext(req: IncomingMessage): RequestContext | undefined {
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
