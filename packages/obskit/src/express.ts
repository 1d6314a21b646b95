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
import { accessLogLine, resolveOptions, type ObskitOptions } from './options.js';

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

type Handler = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

// Symbol.for: the ESM and CommonJS builds, when both are loaded, install the same accessors.
const kBaseLogger = Symbol.for('obskit.express.logger');
const kRequestLogger = Symbol.for('obskit.express.requestLogger');
type LoggedRequest = IncomingMessage & {
  id?: unknown;
  [kBaseLogger]?: Logger;
  [kRequestLogger]?: Logger;
};

let loggersInstalled = false;

/**
 * `req.log` and `res.log` as accessors on Express's request and response prototypes: the first
 * read in a request makes a child of the obskit logger bound to the request id (the logger of
 * the obskit middleware that served the request), later reads return it. Requests that no
 * obskit middleware saw read `undefined`, as before. Assigning (`req.log = other`, as pino-http
 * does) replaces it for that request. No per-request cost until a handler logs.
 */
function installRequestLoggers(): void {
  if (loggersInstalled) return;
  loggersInstalled = true;
  const requestLog = function (this: LoggedRequest): Logger | undefined {
    const own = this[kRequestLogger];
    if (own !== undefined) return own;
    const base = this[kBaseLogger];
    if (base === undefined) return undefined;
    const child = typeof this.id === 'string' ? base.child({ reqId: this.id }) : base;
    this[kRequestLogger] = child;
    return child;
  };
  Object.defineProperty(express.request, 'log', {
    configurable: true,
    enumerable: false,
    get: requestLog,
    set(this: LoggedRequest, value: Logger) {
      this[kRequestLogger] = value;
    },
  });
  Object.defineProperty(express.response, 'log', {
    configurable: true,
    enumerable: false,
    get(this: ServerResponse & { req?: LoggedRequest }) {
      return this.req === undefined ? undefined : requestLog.call(this.req);
    },
    set(this: ServerResponse & { req?: LoggedRequest }, value: Logger) {
      if (this.req !== undefined) this.req[kRequestLogger] = value;
    },
  });
}

/**
 * Everything in one middleware, mounted first: `const o = obskit({ service: 'orders' });
 * app.use(o); … app.use(o.errors()); o.attach(app.listen(3000))`. Request ids, tracing, metrics,
 * health, `req.log` (the obskit logger bound to the request id) and one access log line per
 * request.
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
  // req.log / res.log for handlers, made only when a handler uses them.
  installRequestLoggers();
  chain.push((req, _res, next) => {
    (req as LoggedRequest)[kBaseLogger] = logger;
    next();
  });
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
