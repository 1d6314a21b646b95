import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { expressRouteTemplate, requestLogger, type Logger } from '@obskit/core/internal';
import { health, type HealthMiddleware } from '@obskit/health/express';
import { metrics, type MetricsMiddleware } from '@obskit/metrics/express';
import { requestId } from '@obskit/request-id/express';
import { tracing, tracingErrors } from '@obskit/tracing/express';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { createAccessLog } from './access-log.js';
import { resolveOptions, type ObskitOptions } from './options.js';

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
  /** After the routes: records thrown errors on the span. */
  errors(): ErrorRequestHandler;
};

type Next = (err?: unknown) => void;
type Handler = (req: IncomingMessage, res: ServerResponse, next: Next) => void;
type Logged = IncomingMessage & { id?: string; log?: Logger };

/** `req.log`/`res.log` and the access line: what the umbrella adds to the features. */
function requestLogging(logger: Logger, accessLog: boolean): Handler {
  const access = accessLog ? createAccessLog(logger) : undefined;
  return (req, res, next) => {
    const id = (req as Logged).id;
    const log = id === undefined ? logger : requestLogger(logger, id);
    (req as Logged).log = log;
    (res as ServerResponse & { log?: Logger }).log = log;
    access?.track(req, res, () => expressRouteTemplate(req));
    next();
  };
}

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
  handlers.push(requestLogging(logger, resolved.accessLog));
  if (resolved.tracing) handlers.push(tracing() as Handler);
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
  middleware.errors = tracingErrors;
  return middleware;
}

export default obskit;
