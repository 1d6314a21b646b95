import { CLIENT_CLOSED_STATUS, pathOf } from '@obskit/core';
import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { createHttpMetrics } from './http.js';
import type { MetricHelpers } from './registry.js';
import type { HttpMetricsOptions } from './types.js';

export type { HttpMetricsOptions } from './types.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The metrics registry and get-or-create helpers for custom metrics. */
    metrics: MetricHelpers;
  }
}

const kStart = Symbol('obskit.metrics.start');
type Timed = FastifyRequest & { [kStart]?: number | undefined };

const plugin: FastifyPluginCallback<HttpMetricsOptions> = (app, options, done) => {
  const metrics = createHttpMetrics(options);
  const { endpoint } = metrics;
  app.decorate('metrics', {
    registry: metrics.registry,
    counter: metrics.counter,
    gauge: metrics.gauge,
    histogram: metrics.histogram,
  });

  // Fastify reports completion itself (onResponse on finish or error, onRequestAbort when the
  // client goes away), so the adapter uses its hooks rather than three more raw listeners
  // (measurably cheaper). `kStart` is cleared by whichever comes first: counted exactly once.
  app.addHook('onRequest', (request, _reply, next) => {
    // A matched route is checked by its template (no string work); an unmatched request by path.
    const route = request.routeOptions.url;
    if (!metrics.isExcluded(route ?? pathOf(request.url)))
      (request as Timed)[kStart] = metrics.begin();
    next();
  });
  app.addHook('onResponse', (request, reply, next) => {
    const start = (request as Timed)[kStart];
    if (start !== undefined) {
      (request as Timed)[kStart] = undefined;
      metrics.record(request.raw, reply.raw, start, request.routeOptions.url, reply.statusCode);
    }
    next();
  });
  app.addHook('onRequestAbort', (request, next) => {
    const start = (request as Timed)[kStart];
    if (start !== undefined) {
      (request as Timed)[kStart] = undefined;
      metrics.record(request.raw, undefined, start, request.routeOptions.url, CLIENT_CLOSED_STATUS);
    }
    next();
  });

  if (endpoint !== undefined) {
    const serve = endpoint.startListener;
    if (options.endpoint && options.endpoint.listen) {
      app.addHook('onReady', async () => {
        await serve();
      });
      app.addHook('onClose', async () => {
        await endpoint.close();
      });
    } else {
      app.get(endpoint.path, { logLevel: 'warn' }, async (request, reply) => {
        const result = await endpoint.handle(request.raw);
        return reply.code(result.statusCode).headers(result.headers).send(result.body);
      });
    }
  }
  done();
};

/** RED metrics per route and a Prometheus /metrics endpoint for Fastify. */
export const metrics = fp(plugin, { fastify: '5.x', name: '@obskit/metrics' });
export default metrics;
