import type { IncomingMessage } from 'node:http';
import { sharedMap, stateAside } from './aside.js';
import {
  bindEmitterToContext,
  internalStorage as storage,
  requestContextEnabled,
  type RequestContext,
} from './context.js';

export const kContext = Symbol.for('obskit.core.requestContext');

type Carrier = IncomingMessage & { [kContext]?: RequestContext };

// Where `req[kContext]` is an accessor (see express-state.ts), the map behind it.
const asideContexts = sharedMap<RequestContext>(kContext);

// Made with `new` rather than as a `{}` literal: V8 tracks literal allocation sites and, when
// enough of their objects outlive a scavenge (a context lives as long as its request), starts
// allocating them straight into the old generation. Under load that decision came and went
// between runs of one server and cost up to 3 µs per request in old-generation collections;
// instances of a class are never pretenured that way.
class Context implements RequestContext {
  [key: symbol]: unknown;
}

/**
 * The request context of a raw Node request, created on first use. Every obskit feature of one
 * request shares it, whichever runs first.
 */
export function requestContextOf(req: IncomingMessage): RequestContext {
  if (stateAside(req)) {
    // An Express request on Node 20/22: straight to the WeakMap behind `req[kContext]`.
    let context = asideContexts.get(req);
    if (context === undefined) asideContexts.set(req, (context = new Context()));
    return context;
  }
  const carrier = req as Carrier;
  return (carrier[kContext] ??= new Context());
}

/** The request context of a raw request if one was created, without creating one. */
export function peekRequestContext(req: IncomingMessage): RequestContext | undefined {
  if (stateAside(req)) return asideContexts.get(req);
  return (req as Carrier)[kContext];
}

function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
}

/**
 * Runs `next` (the rest of the request: later hooks, middleware, the handler) inside the
 * request's context. When the request has a body, listeners on the request stream are bound to
 * the context too, so body parsers hand the context on. Calling it again for the same request
 * from inside that context just calls `next`. Until something reads the context (see
 * `enableRequestContext`), it just calls `next`: the context object still travels on the request.
 */
export function runInRequestContext(req: IncomingMessage, next: () => void): void {
  if (!requestContextEnabled()) {
    next();
    return;
  }
  const context = requestContextOf(req);
  if (storage.getStore() === context) {
    next();
    return;
  }
  if (hasBody(req)) bindEmitterToContext(req, context);
  storage.run(context, next);
}
