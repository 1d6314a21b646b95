import type { IncomingMessage, ServerResponse } from 'node:http';
import { keepStateOffExpressObjects, requestContextOf, runInRequestContext } from '@obskit/core';
import express, { type RequestHandler } from 'express';
import { createRequestIdResolver } from './resolver.js';
import type { RequestIdOptions } from './types.js';

export type { RequestIdOptions } from './types.js';

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
    // Own property where `req` is not an Express request; the context's reqId otherwise.
    if ((req as IncomingMessage & { id?: unknown }).id !== id)
      (req as IncomingMessage & { id: unknown }).id = id;
    res.setHeader(header, id);
    runInRequestContext(req, next);
  } as RequestHandler;
}

export default requestId;
