import { type Logger } from '@obskit/core';
import { health } from '@obskit/health/fastify';
import { metrics } from '@obskit/metrics/fastify';
import { requestId, requestIdServerOptions } from '@obskit/request-id/fastify';
import { tracing } from '@obskit/tracing/fastify';
import type { IncomingMessage } from 'node:http';
import fastify, { type FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { accessLogLine, obskitEndpoints, resolveOptions, type ObskitOptions } from './options.js';

export type { ObskitOptions } from './options.js';

/**
 * Fastify server options for obskit: the obskit logger as `loggerInstance`, validated request
 * ids as `request.id`, and Fastify's own two request log lines off (obskit writes one).
 * `Fastify({ ...obskitServerOptions(options) })`, then `app.register(obskit, options)`.
 */
export function obskitServerOptions(
  options: Pick<ObskitOptions, 'service' | 'version' | 'env' | 'logger' | 'requestId'>,
): ObskitServerOptions {
  const { logger, requestId: ridOptions } = {
    ...options,
    logger: options.logger ?? resolveLogger(options),
  };
  const LogController = (fastify as unknown as { LogController?: new (o: object) => unknown })
    .LogController;
  return {
    loggerInstance: logger,
    ...(ridOptions === false ? {} : requestIdServerOptions(ridOptions ?? {})),
    // Fastify 5.12 moved this setting into a LogController; older 5.x take the top-level option.
    ...(LogController !== undefined
      ? ({ logController: new LogController({ disableRequestLogging: true }) } as object)
      : { disableRequestLogging: true }),
  } as ObskitServerOptions;
}

/** What `obskitServerOptions` returns, to spread into `Fastify({ … })`. */
export interface ObskitServerOptions {
  loggerInstance: Logger;
  genReqId?: (req: IncomingMessage) => string;
  requestIdHeader?: false;
  disableRequestLogging?: boolean;
}

const loggers = new Map<string, Logger>();
function resolveLogger(options: Pick<ObskitOptions, 'service' | 'version' | 'env'>): Logger {
  const key = `${options.service}\0${options.version ?? ''}\0${options.env ?? ''}`;
  let logger = loggers.get(key);
  if (logger === undefined) {
    logger = resolveOptions({
      service: options.service,
      version: options.version,
      env: options.env,
      tracing: false,
    }).logger;
    loggers.set(key, logger);
  }
  return logger;
}

const plugin: FastifyPluginAsync<ObskitOptions> = async (app, options) => {
  const resolved = resolveOptions({
    ...options,
    logger: options.logger ?? (app.log as unknown as Logger),
  });
  if (resolved.requestId !== false) await app.register(requestId, resolved.requestId);
  if (resolved.tracing) await app.register(tracing);
  if (resolved.metrics !== false) await app.register(metrics, resolved.metrics);
  if (resolved.health !== false) await app.register(health, resolved.health);
  if (resolved.accessLog) {
    const logger = resolved.logger;
    // Probes and scrapes are not access-logged (as on Express, where they answer before the
    // access log middleware): they would drown the log.
    const quiet = obskitEndpoints(resolved);
    app.addHook('onResponse', (request, reply, next) => {
      const route = request.routeOptions.url;
      if (route === undefined || !quiet.has(route)) {
        accessLogLine(logger, request.raw, reply.statusCode, route, reply.elapsedTime);
      }
      next();
    });
    app.addHook('onRequestAbort', (request, next) => {
      // Fastify keeps no start time on the request; the abort line reports the status only.
      accessLogLine(logger, request.raw, 499, request.routeOptions.url, Number.NaN);
      next();
    });
  }
};

/** Request ids, tracing, metrics, health and one access log line per request, in one plugin. */
export const obskit = fp(plugin, { fastify: '5.x', name: 'obskit' });
export default obskit;
