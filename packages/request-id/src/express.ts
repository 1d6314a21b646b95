import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  idFollowsContext,
  keepStateOffExpressObjects,
  requestContextOf,
  runInRequestContext,
  setResponseHeader,
} from '@obskit/core';
import express, { type RequestHandler } from 'express';
import { createRequestIdResolver } from './resolver.js';
import type { RequestIdOptions } from './types.js';

export type { PropagationOptions, RequestIdOptions } from './types.js';
// The outgoing-call helpers, for one import per framework. Loading them also loads `node:https`,
// which on Node 20 made a slow `process.nextTick` in Fastify request-id servers rarer (2 of 7
// profiles against 9 of 9; see "process.nextTick on Node 20" in docs/benchmarks.md).
export { propagateRequestId, requestIdHeaders } from './propagation.js';

/**
 * Express middleware: resolves the request id, sets `req.id`, the request context and the
 * response header, then runs the rest of the request inside the context. Mount it first.
 */
export function requestId(options: RequestIdOptions = {}): RequestHandler {
  const { header, resolve } = createRequestIdResolver(options);
  // `req.id` and the request context live on Express's prototypes, not on each request.
  keepStateOffExpressObjects(express.request, { id: true });
  return function obskitRequestId(req: IncomingMessage, res: ServerResponse, next: () => void) {
    const id = resolve(req);
    const context = requestContextOf(req);
    context.reqId = id;
    // On Node 20 and 22 an Express `req.id` reads the context's reqId; elsewhere an own property.
    if (!idFollowsContext(req)) (req as IncomingMessage & { id: unknown }).id = id;
    setResponseHeader(req, res, header, id);
    runInRequestContext(req, next);
  } as RequestHandler;
}

export default requestId;
