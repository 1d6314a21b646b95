import type { IncomingMessage } from 'node:http';
import {
  EXPRESS_SHAPES_UNIQUE,
  forgetPrototypes,
  idAside,
  kAside,
  kIdAside,
  sharedMap,
} from './aside.js';
import { kContext, peekRequestContext, requestContextOf } from './request.js';

export { EXPRESS_SHAPES_UNIQUE };

/**
 * On V8 11 and 12 (Node 20 and 22) every Express request and response object has a hidden class
 * of its own, so each property added to one builds a new hidden class: measured on Express 5 and
 * Node 20, ten symbol properties added to `req` cost 34 µs per request, ten WeakMap entries 13 µs
 * (a Fastify raw request took the same ten properties for 0.2 µs). obskit keeps all of a
 * request's state in one object, its request context, under one symbol key on the request; there
 * that key becomes an accessor over a WeakMap on Express's request prototype, so requests never
 * change shape. Requests of other servers keep a plain property.
 */

type Proto = Record<PropertyKey, unknown>;

function defineAside(proto: Proto, key: symbol): void {
  if (Object.prototype.hasOwnProperty.call(proto, key)) return;
  const values = sharedMap(key);
  Object.defineProperty(proto, key, {
    configurable: true,
    enumerable: false,
    get(this: object) {
      return values.get(this);
    },
    set(this: object, value: unknown) {
      values.set(this, value);
    },
  });
}

/**
 * Keeps obskit's per-request state off Express's request objects where adding to them is dear
 * (`EXPRESS_SHAPES_UNIQUE`): the request context behind an accessor on Express's request
 * prototype (`express.request`). With `{ id: true }`, `req.id` becomes an accessor for the
 * request context's `reqId` too (reading it, and setting it when assigned), for the adapters that
 * set `req.id`. Elsewhere it does nothing. Idempotent; the Express adapters call it when they
 * are created.
 */
export function keepStateOffExpressObjects(request: object, options: { id?: boolean } = {}): void {
  if (!EXPRESS_SHAPES_UNIQUE) return;
  const req = request as Proto;
  if (req[kAside] !== true) {
    defineAside(req, kContext);
    Object.defineProperty(req, kAside, { value: true });
    forgetPrototypes();
  }
  if (options.id === true && req[kIdAside] !== true) {
    Object.defineProperty(req, kIdAside, { value: true });
    forgetPrototypes();
    if (Object.prototype.hasOwnProperty.call(req, 'id')) return;
    Object.defineProperty(req, 'id', {
      configurable: true,
      enumerable: true,
      get(this: IncomingMessage) {
        return peekRequestContext(this)?.reqId;
      },
      set(this: IncomingMessage, value: unknown) {
        requestContextOf(this).reqId = value as string;
      },
    });
  }
}

/**
 * Whether `req.id` on this request already reads the request context's `reqId` (an Express
 * request after `keepStateOffExpressObjects(express.request, { id: true })`), so an adapter that
 * has set `reqId` need not touch `req` again. Decided from the request's prototype, which costs no
 * property lookup on the request itself; the answer for the last prototype seen is kept.
 */
export function idFollowsContext(req: object): boolean {
  return idAside(req);
}
