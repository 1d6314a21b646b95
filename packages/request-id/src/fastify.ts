import type { IncomingMessage } from 'node:http';
import {
  childLoggerFactory,
  requestLogger,
  runInRequestContext,
  type Logger,
} from '@obskit/core/internal';
import type { FastifyPluginCallback, FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import { createRequestIds } from './request-ids.js';
import type { RequestIdOptions } from './types.js';

export type { PropagationOptions, RequestIdOptions } from './types.js';
export { propagateRequestId, requestIdHeaders } from './propagation.js';

/**
 * Fastify server options that make `request.id` (and so the `reqId` of `request.log` lines) the
 * validated request id: `Fastify({ ...requestIdServerOptions(), loggerInstance })`. Pass the same
 * options as to the plugin.
 */
export function requestIdServerOptions(
  options: RequestIdOptions = {},
): Pick<FastifyServerOptions, 'genReqId' | 'requestIdHeader' | 'childLoggerFactory'> {
  const ids = createRequestIds(options);
  return {
    requestIdHeader: false,
    genReqId: (raw: IncomingMessage) => ids.begin(raw),
    // request.log binds reqId: marked so that the obskit logger does not add it again.
    childLoggerFactory: childLoggerFactory as unknown as FastifyServerOptions['childLoggerFactory'],
  };
}

const plugin: FastifyPluginCallback<RequestIdOptions> = (app, options, done) => {
  const ids = createRequestIds({ logger: app.log, ...options });
  const { header } = ids;
  app.addHook('onRequest', (request, reply, next) => {
    const raw = request.raw;
    const id = ids.begin(raw);
    if (request.id !== id) {
      // The server was created without requestIdServerOptions(): replace Fastify's counter id.
      request.id = id;
      request.log = requestLogger(app.log as unknown as Logger, id);
    }
    void reply.header(header, id);
    runInRequestContext(raw, next);
  });
  done();
};

/** Validated, generated and echoed request ids for Fastify. */
export const requestId = fp(plugin, { fastify: '5.x', name: '@obskit/request-id' });
export default requestId;
