import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import {
  expressRouteTemplate,
  noteRequestError,
  requestLogger,
  type Logger,
} from '@obskit/core/internal';
import { health, type HealthMiddleware } from '@obskit/health/express';
import { metrics, type MetricsMiddleware } from '@obskit/metrics/express';
import { requestId } from '@obskit/request-id/express';
import { tracing } from '@obskit/tracing/express';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { resolveOptions, type ObskitOptions } from './options.js';
import { createRequestLog, type RequestLogOptions } from './request-log.js';

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

type Next = (err?: unknown) => void;
type Handler = (req: IncomingMessage, res: ServerResponse, next: Next) => void;
type Logged = IncomingMessage & { id?: string; log?: Logger };

/** `req.log`/`res.log`, the access and error lines: what the umbrella adds to the features. */
function requestLogging(logger: Logger, options: RequestLogOptions): Handler {
  const lines = createRequestLog(logger, options);
  return (req, res, next) => {
    const id = (req as Logged).id;
    const log = id === undefined ? logger : requestLogger(logger, id);
    (req as Logged).log = log;
    (res as ServerResponse & { log?: Logger }).log = log;
    lines.track(req, res, () => expressRouteTemplate(req));
    next();
  };
}

const errors = (): ErrorRequestHandler => (error: unknown, req, _res, next) => {
  noteRequestError(req, error);
  next(error);
};

/** The handlers in order, as one middleware; an error skips the rest, as in Express. */
function compose(handlers: Handler[]): Handler {
  return (req, res, next) => {
    let i = 0;
    const step: Next = (err) => {
      if (err !== undefined || i === handlers.length) next(err);
      else (handlers[i++] as Handler)(req, res, step);
    };
    step();
  };
}

/**
 * Everything in one middleware, mounted first: `const o = obskit({ service: 'orders' });
 * app.use(o); … app.use(o.errors()); o.attach(app.listen(3000))`. It runs the features'
 * own middleware in the order the Fastify plugin registers them: request ids, `req.log` and
 * the access line, tracing, metrics, health.
 */
export function obskit(options: ObskitOptions): ObskitMiddleware {
  const resolved = resolveOptions(options);
  const { logger } = resolved;
  const metricsMw = resolved.metrics !== false ? metrics(resolved.metrics) : undefined;
  const healthMw = resolved.health !== false ? health(resolved.health) : undefined;
  const handlers: Handler[] = [];
  if (resolved.requestId !== false) handlers.push(requestId(resolved.requestId) as Handler);
  handlers.push(requestLogging(logger, resolved));
  if (resolved.tracing !== false) handlers.push(tracing(resolved.tracing) as Handler);
  if (metricsMw !== undefined) handlers.push(metricsMw as unknown as Handler);
  if (healthMw !== undefined) handlers.push(healthMw as unknown as Handler);

  const middleware = compose(handlers) as unknown as ObskitMiddleware;
  middleware.logger = logger;
  middleware.metrics = metricsMw;
  middleware.health = healthMw?.health;
  middleware.attach = (server) => {
    healthMw?.attach(server);
    void metricsMw?.listen();
    server.once('close', () => void metricsMw?.close());
    return server;
  };
  middleware.errors = errors;
  return middleware;
}

export default obskit;
