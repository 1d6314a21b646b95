import type { IncomingMessage } from 'node:http';
import {
  beginRejectedRequest,
  childLoggerFactory,
  fastifyPipeline,
  requestLogger,
  STEP,
  type Logger,
} from '@obskit/core/internal';
import type {
  FastifyError,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  FastifyServerOptions,
} from 'fastify';
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
): Pick<
  FastifyServerOptions,
  'genReqId' | 'requestIdHeader' | 'childLoggerFactory' | 'frameworkErrors'
> {
  const ids = createRequestIds(options);
  return {
    requestIdHeader: false,
    genReqId: (raw: IncomingMessage) => ids.begin(raw),
    // request.log binds reqId: marked so that the obskit logger does not add it again.
    childLoggerFactory: childLoggerFactory as unknown as FastifyServerOptions['childLoggerFactory'],
    frameworkErrors: answerRejected as FastifyServerOptions['frameworkErrors'],
  };
}

/**
 * Fastify's `frameworkErrors` for a request Fastify answers before any hook runs (a malformed
 * URL: 400, an overlong parameter: 414): the request-start steps of the obskit features
 * registered on the app run first (the request id, metrics, the access line), then the answer
 * Fastify would have given.
 */
export function answerRejected(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  beginRejectedRequest(request.server, request, reply);
  const statusCode = typeof error.statusCode === 'number' ? error.statusCode : 400;
  void reply.code(statusCode).send({
    error:
      statusCode === 414
        ? 'URI Too Long'
        : statusCode >= 500
          ? 'Internal Server Error'
          : 'Bad Request',
    code: error.code,
    message: error.message,
    statusCode,
  });
}

// Async: an error at registration (a bad option, a metric name conflict) rejects the
// `register` promise and `app.ready()`, never escaping as an uncaught exception.
const plugin: FastifyPluginAsync<RequestIdOptions> = async (app, options) => {
  const ids = createRequestIds({ logger: app.log, ...options });
  const { header } = ids;
  fastifyPipeline<FastifyRequest, FastifyReply>(app).add({
    order: STEP.requestId,
    begin(req, _res, record, request, reply) {
      const id = ids.begin(req, record);
      if (request.id !== id) {
        // The server was created without requestIdServerOptions(): replace Fastify's counter id.
        request.id = id;
        request.log = requestLogger(app.log as unknown as Logger, id);
      }
      void reply.header(header, id);
    },
  });
};

/** Validated, generated and echoed request ids for Fastify. */
export const requestId = fp(plugin, { fastify: '5.x', name: '@obskit/request-id' });
export default requestId;
