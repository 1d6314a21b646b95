import type { IncomingMessage } from 'node:http';
import { requestContextOf, runInRequestContext } from '@obskit/core';
import type { FastifyPluginCallback, FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import { createRequestIdResolver } from './resolver.js';
import type { RequestIdOptions } from './types.js';

export type { RequestIdOptions } from './types.js';

/**
 * Fastify server options that make `request.id` (and so the `reqId` of `request.log` lines) the
 * validated request id: `Fastify({ ...requestIdServerOptions(), loggerInstance })`. Pass the same
 * options as to the plugin.
 */
export function requestIdServerOptions(
  options: RequestIdOptions = {},
): Pick<FastifyServerOptions, 'genReqId' | 'requestIdHeader'> {
  const { resolve } = createRequestIdResolver(options);
  return {
    requestIdHeader: false,
    // The id goes straight into the request context, which the plugin then finds filled.
    genReqId: (raw: IncomingMessage) => (requestContextOf(raw).reqId = resolve(raw)),
  };
}

const plugin: FastifyPluginCallback<RequestIdOptions> = (app, options, done) => {
  const { header, resolve } = createRequestIdResolver(options);
  app.addHook('onRequest', (request, reply, next) => {
    const raw = request.raw;
    const context = requestContextOf(raw);
    let id = context.reqId;
    if (id === undefined) {
      // The server was created without requestIdServerOptions(): replace Fastify's counter id.
      id = resolve(raw);
      request.id = id;
      request.log = app.log.child({ reqId: id });
      context.reqId = id;
    }
    void reply.header(header, id);
    runInRequestContext(raw, next);
  });
  done();
};

/** Validated, generated and echoed request ids for Fastify. */
export const requestId = fp(plugin, { fastify: '5.x', name: '@obskit/request-id' });
export default requestId;
