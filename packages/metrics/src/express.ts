import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  expressMiddleware,
  pathOf,
  trackExpressMounts,
  type ExpressFeature,
} from '@obskit/core/internal';
import express, { type RequestHandler } from 'express';
import { createHttpMetrics } from './http.js';
import type { MetricHelpers } from './registry.js';
import type { HttpMetricsOptions } from './types.js';

// Route templates with the routers' mount templates: one wrapper on this Express module's
// `Router.prototype.use`, installed once when this entry point loads (see "Express route
// templates" in the @obskit/core README); routers mounted before it fall back to `baseUrl`.
trackExpressMounts(express.Router);

export type { HttpMetricsOptions } from './types.js';

export type MetricsMiddleware = RequestHandler &
  MetricHelpers & {
    /** Starts the separate /metrics listener, when `endpoint.listen` is set. */
    listen(): Promise<void>;
    /** Closes the separate listener. */
    close(): Promise<void>;
  };

/** The metrics feature as the obskit umbrella composes it, with its registry and helpers. */
export function metricsFeature(options: HttpMetricsOptions = {}): {
  feature: ExpressFeature;
  helpers: Omit<MetricsMiddleware, keyof RequestHandler>;
} {
  const recorder = createHttpMetrics(options);
  const { endpoint } = recorder;
  const separate = endpoint !== undefined && options.endpoint !== false && options.endpoint?.listen;
  const servePath = endpoint !== undefined && !separate ? endpoint.path : undefined;
  const feature: ExpressFeature = {
    steps: [recorder.step],
    endpoints: servePath === undefined ? [] : [servePath],
    serve(req: IncomingMessage, res: ServerResponse, next) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return false;
      if (pathOf(req.url) !== servePath) return false;
      endpoint!.handle(req).then(
        (result) => {
          res.writeHead(result.statusCode, result.headers);
          res.end(req.method === 'HEAD' ? undefined : result.body);
        },
        (error: unknown) => next(error),
      );
      return true;
    },
  };
  return {
    feature,
    helpers: {
      registry: recorder.registry,
      counter: recorder.counter,
      gauge: recorder.gauge,
      histogram: recorder.histogram,
      listen: async () => {
        if (separate) await endpoint!.startListener();
      },
      close: async () => {
        await endpoint?.close();
      },
    },
  };
}

/**
 * Express middleware that records RED metrics per route and serves /metrics. Mount it before the
 * routes: `app.use(metrics())`. With `endpoint.listen`, call `await mw.listen()` to start the
 * separate listener and `mw.close()` on shutdown.
 */
export function metrics(options: HttpMetricsOptions = {}): MetricsMiddleware {
  const { feature, helpers } = metricsFeature(options);
  return Object.assign(expressMiddleware([feature]), helpers) as unknown as MetricsMiddleware;
}

export default metrics;
