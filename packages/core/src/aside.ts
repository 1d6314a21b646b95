// The pieces of "Express objects" (see express-state.ts) that the request context needs too:
// which V8s give Express objects hidden classes of their own, the WeakMaps that hold state aside,
// and whether a given object's prototype chain has been set up that way.

/**
 * Whether Express's objects get hidden classes of their own on this V8: so on V8 11 and 12
 * (Node 20 and 22); from V8 13 (Node 24) requests share them, and a plain property is much
 * cheaper than a WeakMap entry there (obskit full on Express 5, Node 24: 42 µs added per request
 * with plain properties, 70 µs with WeakMaps). Decided once, at load.
 */
export const EXPRESS_SHAPES_UNIQUE = Number(process.versions.v8.split('.')[0]) < 13;

/** Set (non-enumerable) on a prototype whose objects keep their state aside. */
export const kAside = Symbol.for('obskit.core.expressStateAside');
/** Set (non-enumerable) on a prototype whose `id` accessor reads the request context's reqId. */
export const kIdAside = Symbol.for('obskit.core.expressIdAside');

/** The one WeakMap per key for the whole process (ESM and CommonJS builds alike). */
export function sharedMap<V>(key: symbol): WeakMap<object, V> {
  const global = globalThis as Record<symbol, unknown>;
  const name = Symbol.for(`obskit.core.aside:${String(key.description)}`);
  return ((global[name] as WeakMap<object, V> | undefined) ??
    (global[name] = new WeakMap<object, V>())) as WeakMap<object, V>;
}

let lastProto: unknown = null;
let lastAside = false;
let lastIdFollows = false;
// Whether any prototype was set up at all: until one is (no Express adapter in the process),
// `stateAside` answers without reading the object's prototype.
let anySetUp = false;

/**
 * Whether `obj` keeps its state aside: its prototype chain was set up by
 * `keepStateOffExpressObjects`. Read from the prototype, which costs no property lookup on `obj`
 * (on an object with a hidden class of its own, every lookup misses V8's caches); the answer for
 * the last prototype seen is kept.
 */
export function stateAside(obj: object): boolean {
  if (!anySetUp) return false;
  const proto: unknown = Object.getPrototypeOf(obj);
  if (proto !== lastProto) {
    lastProto = proto;
    const marks = proto as Record<symbol, unknown> | null;
    lastAside = marks !== null && marks[kAside] === true;
    lastIdFollows = lastAside && marks![kIdAside] === true;
  }
  return lastAside;
}

/**
 * Whether `req.id` already reads the request context's `reqId` (see `idFollowsContext` in
 * express-state.ts); answered with the same prototype read as `stateAside`.
 */
export function idAside(req: object): boolean {
  return stateAside(req) && lastIdFollows;
}

/** Forgets the kept answer: for when a prototype has just been set up. */
export function forgetPrototypes(): void {
  anySetUp = EXPRESS_SHAPES_UNIQUE;
  lastProto = null;
}
