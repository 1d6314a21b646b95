import type { IncomingMessage } from 'node:http';
import {
  addRejectedRequestStep,
  childLoggerFactory,
  noteRequestError,
  type Logger,
} from '@obskit/core/internal';
import { health } from '@obskit/health/fastify';
import { metrics } from '@obskit/metrics/fastify';
import { answerRejected, requestId, requestIdServerOptions } from '@obskit/request-id/fastify';
import { tracing } from '@obskit/tracing/fastify';
import fastify, {
  type FastifyPluginAsync,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
} from 'fastify';
import fp from 'fastify-plugin';
import { resolveOptions, type ObskitOptions } from './options.js';
import { createRequestLog } from './request-log.js';

export type { ObskitOptions } from './options.js';

/** What `obskitServerOptions` returns, to spread into `Fastify({ … })`. */
export interface ObskitServerOptions {
  loggerInstance: Logger;
  genReqId?: (req: IncomingMessage) => string;
  requestIdHeader?: false;
  childLoggerFactory?: FastifyServerOptions['childLoggerFactory'];
  frameworkErrors?: FastifyServerOptions['frameworkErrors'];
  disableRequestLogging?: boolean;
}

const loggers = new Map<string, Logger>();
function loggerFor(options: Pick<ObskitOptions, 'service' | 'version' | 'env'>): Logger {
  const key = `${options.service}\0${options.version ?? ''}\0${options.env ?? ''}`;
  let logger = loggers.get(key);
  if (logger === undefined) {
    logger = resolveOptions({ ...options, tracing: false, metrics: false, health: false }).logger;
    loggers.set(key, logger);
  }
  return logger;
}

/**
 * Fastify server options for obskit: the obskit logger as `loggerInstance`, validated request
 * ids as `request.id`, and Fastify's own two request log lines off (obskit writes one).
 * `Fastify({ ...obskitServerOptions(options) })`, then `app.register(obskit, options)`.
 */
export function obskitServerOptions(
  options: Pick<ObskitOptions, 'service' | 'version' | 'env' | 'logger' | 'requestId'>,
): ObskitServerOptions {
  const logger = options.logger ?? loggerFor(options);
  const ids = options.requestId;
  const LogController = (fastify as unknown as { LogController?: new (o: object) => unknown })
    .LogController;
  return {
    loggerInstance: logger,
    ...(ids === false
      ? {
          childLoggerFactory:
            childLoggerFactory as unknown as ObskitServerOptions['childLoggerFactory'],
          frameworkErrors: answerRejected as ObskitServerOptions['frameworkErrors'],
        }
      : requestIdServerOptions({ logger, ...ids })),
    // Fastify 5.12 moved this setting into a LogController; older 5.x take the top-level option.
    ...(LogController !== undefined
      ? ({ logController: new LogController({ disableRequestLogging: true }) } as object)
      : { disableRequestLogging: true }),
  } as ObskitServerOptions;
}

const plugin: FastifyPluginAsync<ObskitOptions> = async (app, options) => {
  const resolved = resolveOptions({
    ...options,
    logger: options.logger ?? (app.log as unknown as Logger),
  });
  if (resolved.requestId !== false) await app.register(requestId, resolved.requestId);
  const lines = createRequestLog(resolved.logger, resolved);
  const begin = (request: FastifyRequest, reply: FastifyReply): void => {
    lines.track(request.raw, reply.raw, () => request.routeOptions.url);
  };
  addRejectedRequestStep(app, begin);
  app.addHook('onRequest', (request, reply, next) => {
    begin(request, reply);
    next();
  });
  app.addHook('onError', (request, _reply, error, next) => {
    noteRequestError(request.raw, error);
    next();
  });
  if (resolved.tracing !== false) await app.register(tracing, resolved.tracing);
  if (resolved.metrics !== false) await app.register(metrics, resolved.metrics);
  if (resolved.health !== false) await app.register(health, resolved.health);
};

/** Request ids, tracing, metrics, health and one access log line per request, in one plugin. */
export const obskit = fp(plugin, { fastify: '5.x', name: 'obskit' });
export default obskit;
