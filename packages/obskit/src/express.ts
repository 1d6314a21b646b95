import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import {
  expressRouteTemplate,
  idFollowsContext,
  keepStateOffExpressObjects,
  onResponseDone,
  pathOf,
  peekRequestContext,
  requestContextOf,
  runInRequestContext,
  setResponseHeader,
  statusOfOutcome,
  trackExpressMounts,
  type Logger,
} from '@obskit/core';
import { health, type HealthMiddleware } from '@obskit/health/express';
import { createHttpMetrics } from '@obskit/metrics';
import { metrics, type MetricsMiddleware } from '@obskit/metrics/express';
import { createRequestIdResolver } from '@obskit/request-id';
import { requestId } from '@obskit/request-id/express';
import {
  createServerTracing,
  requestErrorOf,
  runRequestInSpan,
  tracingActive,
  type ServerSpan,
} from '@obskit/tracing';
import { tracing, tracingErrors } from '@obskit/tracing/express';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import {
  accessLogLine,
  obskitEndpoints,
  resolveOptions,
  type ObskitOptions,
  type ResolvedOptions,
} from './options.js';

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
// The base logger travels in the request context (one object per request), not on `req`.
const kBaseLogger = Symbol.for('obskit.express.logger');
const kRequestLogger = Symbol.for('obskit.express.requestLogger');
type LoggedRequest = IncomingMessage & {
  id?: unknown;
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
    const base = peekRequestContext(this)?.[kBaseLogger] as Logger | undefined;
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
  keepStateOffExpressObjects(express.request, {
    id: resolved.requestId !== false,
  });
  const metricsMw = resolved.metrics !== false ? metrics(resolved.metrics) : undefined;
  const healthMw = resolved.health !== false ? health(resolved.health) : undefined;
  // req.log / res.log for handlers, made only when a handler uses them.
  installRequestLoggers();
  const app = appRequest(resolved);
  const endpoints = obskitEndpoints(resolved);
  // obskit's own endpoints (probes, /metrics) go through each feature's middleware in turn, so
  // they answer exactly as those do; they are not access-logged (they answer before that step).
  const chain: Handler[] = [];
  if (resolved.requestId !== false) chain.push(requestId(resolved.requestId) as unknown as Handler);
  if (resolved.tracing) chain.push(tracing() as unknown as Handler);
  if (metricsMw !== undefined) chain.push(metricsMw as unknown as Handler);
  if (healthMw !== undefined) chain.push(healthMw as unknown as Handler);
  chain.push((req, res, next) => app(req, res, next, undefined));
  const endpoint: Handler = (req, res, next) => {
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
  };

  const middleware = function obskitMiddleware(
    req: IncomingMessage,
    res: ServerResponse,
    next: (err?: unknown) => void,
  ) {
    const path = pathOf(req.url);
    if (endpoints.has(path)) endpoint(req, res, next);
    else app(req, res, next, path);
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

type AppRequest = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
  path: string | undefined,
) => void;

/**
 * Everything obskit does for a request to the app's own routes, in one pass: the request id,
 * the server span, the metrics timer and the access line, with one completion callback that
 * reads the route once for all of them. `path` undefined: the features' middleware already did
 * their part (a request to one of obskit's endpoint paths), only `req.log` and the access line
 * are left.
 */
function appRequest(resolved: ResolvedOptions): AppRequest {
  const { logger, accessLog } = resolved;
  const ids =
    resolved.requestId === false ? undefined : createRequestIdResolver(resolved.requestId);
  const tracer = resolved.tracing && tracingActive() ? createServerTracing() : undefined;
  // The metrics middleware's recorder and this one share the registry's series.
  const recorder = resolved.metrics === false ? undefined : createHttpMetrics(resolved.metrics);

  return (req, res, next, path) => {
    const context = requestContextOf(req);
    context[kBaseLogger] = logger;
    let span: ServerSpan | undefined;
    let start: number | undefined;
    if (path !== undefined) {
      if (ids !== undefined) {
        const id = ids.resolve(req);
        context.reqId = id;
        // On Node 20 and 22 an Express `req.id` reads the context's reqId; elsewhere an own property.
        if (!idFollowsContext(req)) (req as LoggedRequest).id = id;
        setResponseHeader(req, res, ids.header, id);
      }
      span = tracer?.start(req);
      if (recorder !== undefined && !recorder.isExcluded(path)) start = recorder.begin();
    }
    if (span !== undefined || start !== undefined || accessLog) {
      const since = start ?? performance.now();
      onResponseDone(req, res, (outcome, error) => {
        const route = routeOf(req);
        const status = statusOfOutcome(outcome, res);
        if (span !== undefined) {
          tracer!.end(
            span,
            route,
            outcome === 'aborted' ? undefined : status,
            requestErrorOf(req) ?? error,
          );
        }
        if (start !== undefined) recorder!.record(req, res, start, route, status);
        if (accessLog) accessLogLine(logger, req, status, route, performance.now() - since);
      });
    }
    if (span !== undefined) runRequestInSpan(req, span, next);
    else runInRequestContext(req, next);
  };
}

function routeOf(req: IncomingMessage): string | undefined {
  try {
    return expressRouteTemplate(req);
  } catch {
    return undefined;
  }
}

export default obskit;
