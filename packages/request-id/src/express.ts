import type { IncomingMessage, ServerResponse } from 'node:http';
import { runInRequestContext } from '@obskit/core/internal';
import type { RequestHandler } from 'express';
import { createRequestIds } from './request-ids.js';
import type { RequestIdOptions } from './types.js';

export type { PropagationOptions, RequestIdOptions } from './types.js';
export { propagateRequestId, requestIdHeaders } from './propagation.js';

/**
 * Express middleware: resolves the request id, sets `req.id`, the request context and the
 * response header, then runs the rest of the request inside the context. Mount it first.
 */
export function requestId(options: RequestIdOptions = {}): RequestHandler {
  const ids = createRequestIds(options);
  const { header } = ids;
  return function obskitRequestId(req: IncomingMessage, res: ServerResponse, next: () => void) {
    const id = ids.begin(req);
    (req as IncomingMessage & { id: string }).id = id;
    res.setHeader(header, id);
    runInRequestContext(req, next);
  } as RequestHandler;
}

export default requestId;
