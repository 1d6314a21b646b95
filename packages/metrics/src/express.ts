import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  endpointOf,
  expressRouteTemplate,
  markEndpoint,
  pathOf,
  registerEndpointPath,
  trackExpressMounts,
} from '@obskit/core/internal';
import express, { type RequestHandler } from 'express';
import { createHttpMetrics } from './http.js';
import type { MetricHelpers } from './registry.js';
import type { HttpMetricsOptions } from './types.js';

export type { HttpMetricsOptions } from './types.js';

export type MetricsMiddleware = RequestHandler &
  MetricHelpers & {
    /** Starts the separate /metrics listener, when `endpoint.listen` is set. */
    listen(): Promise<void>;
    /** Closes the separate listener. */
    close(): Promise<void>;
  };

/**
 * Express middleware that records RED metrics per route and serves /metrics. Mount it before the
 * routes: `app.use(metrics())`. With `endpoint.listen`, call `await mw.listen()` to start the
 * separate listener and `mw.close()` on shutdown.
 */
export function metrics(options: HttpMetricsOptions = {}): MetricsMiddleware {
  const recorder = createHttpMetrics(options);
  const { endpoint } = recorder;
  trackExpressMounts(express.Router);
  const separate = endpoint !== undefined && options.endpoint !== false && options.endpoint?.listen;
  const servePath = endpoint !== undefined && !separate ? endpoint.path : undefined;
  if (servePath !== undefined) registerEndpointPath(servePath);
  const routeOf = (req: IncomingMessage) => expressRouteTemplate(req) ?? endpointOf(req);

  const middleware = function obskitMetrics(
    req: IncomingMessage,
    res: ServerResponse,
    next: () => void,
  ) {
    const path = pathOf(req.url);
    if (recorder.counts(path)) recorder.track(req, res, () => routeOf(req));
    if (path === servePath && (req.method === 'GET' || req.method === 'HEAD')) {
      markEndpoint(req, servePath);
      void endpoint!.handle(req).then((result) => {
        res.writeHead(result.statusCode, result.headers);
        res.end(req.method === 'HEAD' ? undefined : result.body);
      });
      return;
    }
    next();
  } as unknown as MetricsMiddleware;

  middleware.registry = recorder.registry;
  middleware.counter = recorder.counter;
  middleware.gauge = recorder.gauge;
  middleware.histogram = recorder.histogram;
  middleware.listen = async () => {
    if (separate) await endpoint!.startListener();
  };
  middleware.close = async () => {
    await endpoint?.close();
  };
  return middleware;
}

export default metrics;
