import type { IncomingMessage } from 'node:http';
import { peekRequestContext, requestContextOf } from './request.js';

/**
 * Notes the error the app raised while serving `req` (Fastify's onError hook and Express error
 * middleware see it; the response alone does not tell it), for the span, the error log line and
 * `onError` when the response is done. The first error noted is kept.
 */
export function noteRequestError(req: IncomingMessage, error: unknown): void {
  const record = requestContextOf(req);
  if (record.error === undefined) record.error = error;
}

/** The error noted for `req` by `noteRequestError`, if any. */
export function requestErrorOf(req: IncomingMessage): unknown {
  return peekRequestContext(req)?.error;
}
