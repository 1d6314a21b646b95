import type { IncomingMessage, ServerResponse } from 'node:http';
import { requestContextOf, runInRequestContext } from '@obskit/core';
import type { RequestHandler } from 'express';
import { createRequestIdResolver } from './resolver.js';
import type { RequestIdOptions } from './types.js';

export type { RequestIdOptions } from './types.js';

/**
 * Express middleware: resolves the request id, sets `req.id`, the request context and the
 * response header, then runs the rest of the request inside the context. Mount it first.
 */
export function requestId(options: RequestIdOptions = {}): RequestHandler {
  const { header, resolve } = createRequestIdResolver(options);
  return function obskitRequestId(req: IncomingMessage, res: ServerResponse, next: () => void) {
    const id = resolve(req);
    (req as IncomingMessage & { id: unknown }).id = id;
    requestContextOf(req).reqId = id;
    res.setHeader(header, id);
    runInRequestContext(req, next);
  } as RequestHandler;
}

export default requestId;
