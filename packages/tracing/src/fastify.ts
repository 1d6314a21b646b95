import { fastifyPipeline } from '@obskit/core/internal';
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
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

const plugin: FastifyPluginCallback<TracingPluginOptions> = (app, options, done) => {
  if (options.force !== true && !tracingActive()) {
    done();
    return;
  }
  // The span ends when the response does, as on Express (finished, failed, or the client gone);
  // errors reach it through the pipeline's onError hook.
  const pipeline = fastifyPipeline<FastifyRequest, FastifyReply>(app);
  pipeline.add(serverSpanStep({ logger: app.log, ...options }));
  pipeline.setEnter(enterServerSpan);
  done();
};

/** Route-named OpenTelemetry server spans for Fastify. */
export const tracing = fp(plugin, { fastify: '5.x', name: '@obskit/tracing' });
export default tracing;
