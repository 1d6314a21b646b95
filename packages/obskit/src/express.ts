import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import {
  expressRouteTemplate,
  onResponseDone,
  statusOfOutcome,
  trackExpressMounts,
  type Logger,
} from '@obskit/core';
import { health, type HealthMiddleware } from '@obskit/health/express';
import { metrics, type MetricsMiddleware } from '@obskit/metrics/express';
import { requestId } from '@obskit/request-id/express';
import { tracing, tracingErrors } from '@obskit/tracing/express';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { pinoHttp } from 'pino-http';
import { accessLogLine, resolveOptions, type ObskitOptions } from './options.js';

export type { ObskitOptions } from './options.js';

export type ObskitMiddleware = RequestHandler & {
  logger: Logger;
  /** The metrics registry and helpers, unless metrics are off. */
  metrics: MetricsMiddleware | undefined;
  /** The health state (hold/release, shutdown), unless health is off. */
  health: HealthMiddleware['health'] | undefined;
  /** Hands obskit the server for startup and graceful shutdown; returns it. */
  attach(server: Server): Server;
  /** After the routes: records thrown errors on the span. */
  errors(): ErrorRequestHandler;
};

type Handler = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/**
 * Everything in one middleware, mounted first: `const o = obskit({ service: 'orders' });
 * app.use(o); … app.use(o.errors()); o.attach(app.listen(3000))`. Request ids, tracing, metrics,
 * health, `req.log` (pino-http with the obskit logger) and one access log line per request.
 */
export function obskit(options: ObskitOptions): ObskitMiddleware {
  const resolved = resolveOptions(options);
  const { logger } = resolved;
  trackExpressMounts(express.Router);
  const chain: Handler[] = [];
  if (resolved.requestId !== false) chain.push(requestId(resolved.requestId) as unknown as Handler);
  if (resolved.tracing) chain.push(tracing() as unknown as Handler);
  const metricsMw = resolved.metrics !== false ? metrics(resolved.metrics) : undefined;
  if (metricsMw !== undefined) chain.push(metricsMw as unknown as Handler);
  const healthMw = resolved.health !== false ? health(resolved.health) : undefined;
  if (healthMw !== undefined) chain.push(healthMw as unknown as Handler);
  // req.log for handlers, without pino-http's own completion line: obskit writes that one.
  chain.push(
    pinoHttp({
      logger,
      autoLogging: false,
      quietReqLogger: true,
      genReqId: (req) => (req as IncomingMessage & { id?: string }).id ?? '',
    }) as unknown as Handler,
  );
  if (resolved.accessLog) {
    chain.push((req, res, next) => {
      const start = performance.now();
      onResponseDone(req, res, (outcome) => {
        accessLogLine(
          logger,
          req,
          statusOfOutcome(outcome, res),
          expressRouteTemplate(req),
          performance.now() - start,
        );
      });
      next();
    });
  }

  const middleware = function obskitMiddleware(
    req: IncomingMessage,
    res: ServerResponse,
    next: (err?: unknown) => void,
  ) {
    let i = 0;
    const step = (err?: unknown): void => {
      if (err !== undefined || i === chain.length) {
        next(err);
        return;
      }
      const handler = chain[i++] as Handler;
      handler(req, res, step);
    };
    step();
  } as unknown as ObskitMiddleware;
  middleware.logger = logger;
  middleware.metrics = metricsMw;
  middleware.health = healthMw?.health;
  middleware.attach = (server) => {
    healthMw?.attach(server);
    void metricsMw?.listen();
    server.once('close', () => void metricsMw?.close());
    return server;
  };
  middleware.errors = tracingErrors;
  return middleware;
}

export default obskit;
