import type { IncomingMessage } from 'node:http';
import { expressMiddleware, STEP, type ExpressFeature } from '@obskit/core/internal';
import type { RequestHandler } from 'express';
import { createRequestIds } from './request-ids.js';
import type { RequestIdOptions } from './types.js';

export type { PropagationOptions, RequestIdOptions } from './types.js';
export { propagateRequestId, requestIdHeaders } from './propagation.js';

/**
 * The request-id feature as the obskit umbrella composes it: resolves the id, sets `req.id` and
 * the response header at the start of the request.
 */
export function requestIdFeature(options: RequestIdOptions = {}): ExpressFeature {
  const ids = createRequestIds(options);
  const { header } = ids;
  return {
    steps: [
      {
        order: STEP.requestId,
        begin(req, res, record) {
          const id = ids.begin(req, record);
          (req as IncomingMessage & { id: string }).id = id;
          res.setHeader(header, id);
        },
      },
    ],
  };
}

/**
 * Express middleware: resolves the request id, sets `req.id`, the request context and the
 * response header, then runs the rest of the request inside the context. Mount it first.
 */
export function requestId(options: RequestIdOptions = {}): RequestHandler {
  return expressMiddleware([requestIdFeature(options)]) as unknown as RequestHandler;
}

export default requestId;
