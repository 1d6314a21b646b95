import { fastifyPipeline } from '@obskit/core/internal';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { IgnoreOptions } from './ignore.js';
import { tracingActive, type ServerTracingOptions } from './server.js';
import { enterServerSpan, serverSpanStep } from './step.js';

export interface TracingPluginOptions extends IgnoreOptions, ServerTracingOptions {
  /**
   * Make spans even when obskit's tracing was not started (an OpenTelemetry SDK set up by other
   * means). Default false: without it the plugin adds no hook at all.
   */
  force?: boolean;
}

// Async: an error at registration (a bad option, a metric name conflict) rejects the
// `register` promise and `app.ready()`, never escaping as an uncaught exception.
const plugin: FastifyPluginAsync<TracingPluginOptions> = async (app, options) => {
  if (options.force !== true && !tracingActive()) {
    return;
  }
  // The span ends when the response does, as on Express (finished, failed, or the client gone);
  // errors reach it through the pipeline's onError hook.
  const pipeline = fastifyPipeline<FastifyRequest, FastifyReply>(app);
  pipeline.add(serverSpanStep({ logger: app.log, ...options }));
  pipeline.setEnter(enterServerSpan);
};

/** Route-named OpenTelemetry server spans for Fastify. */
export const tracing = fp(plugin, { fastify: '5.x', name: '@obskit/tracing' });
export default tracing;
