import type { IncomingMessage } from 'node:http';
import { childLoggerFactory, fastifyPipeline, type Logger } from '@obskit/core/internal';
import { health } from '@obskit/health/fastify';
import { metrics } from '@obskit/metrics/fastify';
// Re-exported so that the umbrella's types load the features' own (their `declare module
// 'fastify'`): `app.metrics` and `app.health` are typed with the umbrella alone.
export type { HttpMetricsOptions } from '@obskit/metrics/fastify';
export type { HealthOptions } from '@obskit/health/fastify';
import { answerRejected, requestId, requestIdServerOptions } from '@obskit/request-id/fastify';
import { tracing } from '@obskit/tracing/fastify';
import { LogController, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import { resolveOptions, type ObskitOptions, type ResolvedOptions } from './options.js';
import { requestLogStep } from './request-log.js';

export type { ObskitOptions } from './options.js';

/** What `obskitFastify(options).serverOptions` holds, to pass to `Fastify(…)`. */
export interface ObskitServerOptions {
  loggerInstance: Logger;
  genReqId?: (req: IncomingMessage) => string;
  requestIdHeader?: false;
  childLoggerFactory?: FastifyServerOptions['childLoggerFactory'];
  frameworkErrors?: FastifyServerOptions['frameworkErrors'];
  logController: InstanceType<typeof LogController>;
}

/** `obskitFastify(options)`: the server options and the plugin, from one set of options. */
export interface ObskitFastify {
  /** `Fastify(o.serverOptions)` (spread it to add your own). */
  serverOptions: ObskitServerOptions;
  /** `app.register(o.plugin)`: request ids, traces, /metrics, /health/*, the access log. */
  plugin: FastifyPluginAsync;
  /** The options as resolved once (the logger the server and the plugin share). */
  logger: Logger;
}

function serverOptionsOf(resolved: ResolvedOptions): ObskitServerOptions {
  const { logger } = resolved;
  const ids = resolved.requestId;
  return {
    loggerInstance: logger,
    ...(ids === false
      ? {
          childLoggerFactory:
            childLoggerFactory as unknown as ObskitServerOptions['childLoggerFactory'],
          frameworkErrors: answerRejected as ObskitServerOptions['frameworkErrors'],
        }
      : requestIdServerOptions(ids)),
    // obskit writes one access line per request instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
  } as ObskitServerOptions;
}

async function registerFeatures(
  app: Parameters<FastifyPluginAsync>[0],
  resolved: ResolvedOptions,
): Promise<void> {
  if (resolved.requestId !== false) await app.register(requestId, resolved.requestId);
  fastifyPipeline(app).add(requestLogStep(resolved.logger, resolved));
  if (resolved.tracing !== false) await app.register(tracing, resolved.tracing);
  if (resolved.metrics !== false) await app.register(metrics, resolved.metrics);
  if (resolved.health !== false) await app.register(health, resolved.health);
}

/**
 * obskit for Fastify from one set of options, so that the request-id header the server reads and
 * the one the plugin echoes can never differ:
 * `const o = obskitFastify({ service: 'orders' }); const app = Fastify(o.serverOptions);
 * await app.register(o.plugin);`. One `onRequest` hook runs every feature.
 */
export function obskitFastify(options: ObskitOptions): ObskitFastify {
  const resolved = resolveOptions(options);
  const plugin = fp(async (app) => registerFeatures(app, resolved), {
    fastify: '5.x',
    name: 'obskit',
  });
  return { serverOptions: serverOptionsOf(resolved), plugin, logger: resolved.logger };
}

/**
 * Fastify server options for obskit (the two-call form): `Fastify(obskitServerOptions(options))`,
 * then `app.register(obskit, options)` with the same options. `obskitFastify` takes them once.
 */
export function obskitServerOptions(
  options: Pick<ObskitOptions, 'service' | 'version' | 'env' | 'logger' | 'requestId'>,
): ObskitServerOptions {
  return serverOptionsOf(
    resolveOptions({ ...options, tracing: false, metrics: false, health: false }),
  );
}

const plugin: FastifyPluginAsync<ObskitOptions> = async (app, options) => {
  const resolved = resolveOptions({
    ...options,
    logger: options.logger ?? (app.log as unknown as Logger),
  });
  await registerFeatures(app, resolved);
};

/** Request ids, tracing, metrics, health and one access log line per request, in one plugin. */
export const obskit = fp(plugin, { fastify: '5.x', name: 'obskit' });
export default obskit;
