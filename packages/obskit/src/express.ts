import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import {
  expressMiddleware,
  expressPipeline,
  noteRequestError,
  requestLogger,
  STEP,
  type ExpressFeature,
  type ExpressStep,
  type Logger,
} from '@obskit/core/internal';
import { healthFeature, type HealthMiddleware } from '@obskit/health/express';
import { metricsFeature, type MetricsMiddleware } from '@obskit/metrics/express';
import { requestIdFeature } from '@obskit/request-id/express';
import { tracingFeature } from '@obskit/tracing/express';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { resolveOptions, type ObskitOptions } from './options.js';
import { requestLogStep } from './request-log.js';

export type { ObskitOptions } from './options.js';

declare global {
  // Express's own way to add request and response properties.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The validated request id (`x-request-id`), set by obskit. */
      id: string;
      /** The obskit logger bound to the request id; lines also carry the trace ids. */
      log: Logger;
    }
    interface Response {
      /** The same logger as `req.log`. */
      log: Logger;
    }
  }
}

export type ObskitMiddleware = RequestHandler & {
  logger: Logger;
  /** The metrics registry and helpers, unless metrics are off. */
  metrics: MetricsMiddleware | undefined;
  /** The health state (hold/release, shutdown), unless health is off. */
  health: HealthMiddleware['health'] | undefined;
  /** Hands obskit the server for startup and graceful shutdown; returns it. */
  attach(server: Server): Server;
  /**
   * After the routes: notes a thrown error for the span, the error log line and `onError`, and
   * passes it on to the app's own error handler unchanged.
   */
  errors(): ErrorRequestHandler;
};

type Logged = IncomingMessage & { log?: Logger };

// `req.log` and `res.log`: the request's own logger, bound to its id.
function requestLoggerStep(logger: Logger): ExpressStep {
  return {
    order: STEP.requestId + 1,
    begin(req, res, record) {
      const log = record.reqId === undefined ? logger : requestLogger(logger, record.reqId);
      (req as Logged).log = log;
      (res as ServerResponse & { log?: Logger }).log = log;
    },
  };
}

const errors = (): ErrorRequestHandler => (error: unknown, req, _res, next) => {
  // The client went away while sending its body (body-parser's `request.aborted`): nobody is
  // left to answer and nothing failed here. The request counts as a 499 under its route; no
  // error line, no onError, and no stack from Express's final handler.
  if ((error as { type?: unknown } | null)?.type === 'request.aborted') return;
  noteRequestError(req, error);
  next(error);
};

/**
 * Everything in one middleware, mounted first: `const o = obskit({ service: 'orders' });
 * app.use(o); … app.use(o.errors()); o.attach(app.listen(3000))`. One request pipeline runs the
 * features' steps in the order the Fastify plugin registers them: request ids, `req.log`,
 * tracing, metrics, health's drain tracking and the access line.
 */
export function obskit(options: ObskitOptions): ObskitMiddleware {
  const resolved = resolveOptions(options);
  const { logger } = resolved;
  const features: ExpressFeature[] = [];
  if (resolved.requestId !== false) features.push(requestIdFeature(resolved.requestId));
  features.push({ steps: [requestLoggerStep(logger), requestLogStep(logger, resolved)] });
  const tracing = resolved.tracing !== false ? tracingFeature(resolved.tracing) : undefined;
  if (tracing !== undefined) features.push(tracing);
  const metrics = resolved.metrics !== false ? metricsFeature(resolved.metrics) : undefined;
  if (metrics !== undefined) features.push(metrics.feature);
  const health = resolved.health !== false ? healthFeature(resolved.health) : undefined;
  if (health !== undefined) features.push(health.feature);

  // One pipeline of this app's own, with its own endpoints.
  const middleware = expressMiddleware(
    features,
    expressPipeline(),
    false,
  ) as unknown as ObskitMiddleware;
  middleware.logger = logger;
  middleware.metrics =
    metrics === undefined
      ? undefined
      : (Object.assign(
          (_req: unknown, _res: unknown, next: () => void) => next(),
          metrics.helpers,
        ) as unknown as MetricsMiddleware);
  middleware.health = health?.health;
  middleware.attach = (server) => {
    health?.attach(server);
    if (metrics !== undefined) {
      // The separate /metrics listener (`metrics.endpoint.listen`): a port in use is said, not
      // left as an unhandled rejection; the app goes on serving.
      metrics.helpers.listen().catch((error: unknown) => {
        logger.error({ err: error }, 'obskit: the separate /metrics listener did not start');
      });
      server.once('close', () => {
        metrics.helpers.close().catch((error: unknown) => {
          logger.warn({ err: error }, 'obskit: the separate /metrics listener did not close');
        });
      });
    }
    return server;
  };
  middleware.errors = errors;
  return middleware;
}

export default obskit;
