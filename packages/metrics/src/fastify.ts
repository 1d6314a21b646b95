import { fastifyPipeline } from '@obskit/core/internal';
import type { FastifyPluginAsync } from 'fastify';
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

// Async: an error at registration (a bad option, a metric name conflict) rejects the
// `register` promise and `app.ready()`, never escaping as an uncaught exception.
const plugin: FastifyPluginAsync<HttpMetricsOptions> = async (app, options) => {
  const recorder = createHttpMetrics({ logger: app.log, ...options });
  const { endpoint } = recorder;
  app.decorate('metrics', {
    registry: recorder.registry,
    counter: recorder.counter,
    gauge: recorder.gauge,
    histogram: recorder.histogram,
  });

  // Completion is taken from the response itself, as on Express: a response destroyed before
  // Fastify sent it counts too (500, or 499 when the client went away). Requests Fastify rejects
  // before any hook (a malformed URL) are counted too, as unmatched.
  const pipeline = fastifyPipeline(app);
  pipeline.add(recorder.step);

  if (endpoint !== undefined) {
    if (options.endpoint && options.endpoint.listen) {
      app.addHook('onReady', async () => {
        await endpoint.startListener();
      });
      app.addHook('onClose', async () => {
        await endpoint.close();
      });
    } else {
      pipeline.addEndpoint(endpoint.path);
      app.get(endpoint.path, { logLevel: 'warn' }, async (request, reply) => {
        const result = await endpoint.handle(request.raw);
        return reply.code(result.statusCode).headers(result.headers).send(result.body);
      });
    }
  }
};

/** RED metrics per route and a Prometheus /metrics endpoint for Fastify. */
export const metrics = fp(plugin, { fastify: '5.x', name: '@obskit/metrics' });
export default metrics;
