import type { IncomingMessage } from 'node:http';

/**
 * Express route templates with router prefixes. Express keeps the matched route's own path
 * (`req.route.path`) and the matched part of the URL (`req.baseUrl`), but not the template a
 * router was mounted at: `app.use('/tenants/:tenant', router)` gives a `baseUrl` of
 * `/tenants/acme`, a label value per tenant. `trackExpressMounts(express.Router)` wraps routers
 * as they are mounted so each request records the mount templates it went through; a router that
 * falls through removes its entry again. Routers mounted before tracking started fall back to
 * the matched `baseUrl`, which is the template whenever the mount path has no parameters.
 */

const kMounts = Symbol.for('obskit.core.expressMounts');
const kTracked = Symbol.for('obskit.core.expressMountsTracked');

type Next = (err?: unknown) => void;
type Handler = ((req: IncomingMessage, res: unknown, next: Next) => void) & { stack?: unknown };
interface RouterLike {
  use: (...args: unknown[]) => unknown;
}
type TrackedRequest = IncomingMessage & {
  [kMounts]?: string[];
  baseUrl?: string;
  route?: { path?: unknown };
};

function isRouter(fn: unknown): fn is Handler {
  // A router (not a sub-application, which has `set`) is a function with a layer stack.
  return (
    typeof fn === 'function' &&
    Array.isArray((fn as Handler).stack) &&
    typeof (fn as { set?: unknown }).set !== 'function'
  );
}

function wrapRouter(pattern: string, router: Handler): Handler {
  const prefix = pattern === '/' ? '' : pattern.replace(/\/$/, '');
  const mounted = function mountedRouter(req: IncomingMessage, res: unknown, next: Next): void {
    const tracked = req as TrackedRequest;
    const mounts = (tracked[kMounts] ??= []);
    const depth = mounts.length;
    mounts.push(prefix);
    router(req, res, (err?: unknown) => {
      mounts.length = depth;
      next(err);
    });
  } as Handler;
  // Keep the router's own properties (`stack`, `params`…) reachable through the wrapper.
  Object.setPrototypeOf(mounted, router);
  return mounted;
}

/**
 * Starts recording mount templates for routers mounted from now on: one wrapper on the
 * router's `use` (as OpenTelemetry's Express instrumentation wraps it), installed once per
 * Express module (pass its `express.Router`, Express 4 and 5), whoever asks and however often.
 * obskit's Express entry points install it when they are loaded. Returns the undo, which puts
 * the original `use` back (routers mounted meanwhile keep their recording).
 */
export function trackExpressMounts(Router: unknown): () => void {
  const target = (
    typeof (Router as { prototype?: RouterLike }).prototype?.use === 'function'
      ? (Router as { prototype: RouterLike }).prototype
      : Router
  ) as RouterLike & { [kTracked]?: () => void };
  if (typeof target?.use !== 'function') return () => undefined;
  const installed = target[kTracked];
  if (installed !== undefined) return installed;
  const use = target.use;
  const trackedUse = function trackedUse(this: unknown, ...args: unknown[]): unknown {
    const pattern =
      typeof args[0] === 'string' ? args[0] : typeof args[0] === 'function' ? '/' : undefined;
    if (pattern !== undefined) {
      const start = typeof args[0] === 'string' ? 1 : 0;
      for (let i = start; i < args.length; i++) {
        const fn = args[i];
        if (isRouter(fn)) args[i] = wrapRouter(pattern, fn);
      }
    }
    return use.apply(this, args);
  };
  target.use = trackedUse;
  const undo = (): void => {
    if (target.use === trackedUse) target.use = use;
    if (target[kTracked] === undo) delete target[kTracked];
  };
  target[kTracked] = undo;
  return undo;
}

/**
 * The route template of an Express request, with the prefixes of the routers it went through
 * (`/v1/users/:id`), or `undefined` when no route matched. Call it when the response is done.
 */
export function expressRouteTemplate(req: IncomingMessage): string | undefined {
  const tracked = req as TrackedRequest;
  const path = tracked.route?.path;
  if (path === undefined) return undefined;
  const own = typeof path === 'string' ? path : String(path);
  const mounts = tracked[kMounts];
  const base =
    mounts !== undefined && mounts.length > 0 ? mounts.join('') : (tracked.baseUrl ?? '');
  if (base === '') return own;
  return own === '/' ? base : base + own;
}
