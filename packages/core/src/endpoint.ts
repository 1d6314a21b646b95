import type { IncomingMessage } from 'node:http';
import { peekRequestContext, requestContextOf } from './request.js';

// The paths of obskit's own endpoints (the probes, /metrics), registered by the features that
// serve them when they are set up. Requests to them are neither traced, counted nor
// access-logged unless asked: the features look the path up when a request starts. One set per
// process, shared by the ESM and CommonJS builds.
const kPaths = Symbol.for('obskit.core.endpointPaths');
const paths: Set<string> =
  ((globalThis as Record<symbol, unknown>)[kPaths] as Set<string> | undefined) ??
  (((globalThis as Record<symbol, unknown>)[kPaths] = new Set<string>()) as Set<string>);

/** Registers `path` as one of obskit's own endpoints (done by the feature that serves it). */
export function registerEndpointPath(path: string): void {
  paths.add(path);
}

/** Whether `path` (without the query) is one of obskit's own endpoints. */
export function isEndpointPath(path: string): boolean {
  return paths.has(path);
}

// On Express the endpoints answer from middleware, where no route matched: the mark gives such
// a request the route label the same endpoint has as a Fastify route.
const kEndpoint = Symbol.for('obskit.core.endpoint');

/** Marks `req` as answered by the obskit endpoint at `path`. */
export function markEndpoint(req: IncomingMessage, path: string): void {
  requestContextOf(req)[kEndpoint] = path;
}

/** The path of the obskit endpoint that answered `req`, if one did. */
export function endpointOf(req: IncomingMessage): string | undefined {
  return peekRequestContext(req)?.[kEndpoint] as string | undefined;
}
