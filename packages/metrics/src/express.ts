import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  expressRouteTemplate,
  keepStateOffExpressObjects,
  pathOf,
  trackExpressMounts,
} from '@obskit/core';
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
  keepStateOffExpressObjects(express.request);
  const separate = options.endpoint !== false && options.endpoint?.listen !== undefined;
  const servePath = endpoint !== undefined && !separate ? endpoint.path : undefined;

  const middleware = function obskitMetrics(
    req: IncomingMessage,
    res: ServerResponse,
    next: () => void,
  ) {
    const path = pathOf(req.url);
    if (
      servePath !== undefined &&
      path === servePath &&
      (req.method === 'GET' || req.method === 'HEAD')
    ) {
      void endpoint!.handle(req).then((result) => {
        res.writeHead(result.statusCode, result.headers);
        res.end(req.method === 'HEAD' ? undefined : result.body);
      });
      if (recorder.isExcluded(path)) return;
      recorder.track(req, res, () => servePath);
      return;
    }
    if (!recorder.isExcluded(path)) recorder.track(req, res, () => expressRouteTemplate(req));
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
