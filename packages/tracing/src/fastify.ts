import { addRejectedRequestStep, onResponseDone, statusOfOutcome } from '@obskit/core/internal';
import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ignoreRule, type IgnoreOptions } from './ignore.js';
import {
  createServerTracing,
  noteRequestError,
  requestErrorOf,
  runRequestInSpan,
  tracingActive,
  type ServerSpan,
  type ServerTracingOptions,
} from './server.js';

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
  const server = createServerTracing(options);
  const ignored = ignoreRule({ logger: app.log, ...options });
  // The span ends when the response does, as on Express (finished, failed, or the client gone).
  const begin = (request: FastifyRequest, reply: FastifyReply): ServerSpan | undefined => {
    const raw = request.raw;
    if (ignored.byRoute(raw, request.routeOptions.url)) return undefined;
    const state = server.start(raw);
    onResponseDone(raw, reply.raw, (outcome, error) => {
      const status = outcome === 'aborted' ? undefined : statusOfOutcome(outcome, reply.raw);
      server.end(state, request.routeOptions.url, status, requestErrorOf(raw) ?? error);
    });
    return state;
  };
  addRejectedRequestStep(app, begin);
  app.addHook('onRequest', (request, reply, next) => {
    const state = begin(request, reply);
    if (state === undefined) next();
    else runRequestInSpan(request.raw, state, next);
  });
  app.addHook('onError', (request, _reply, error, next) => {
    noteRequestError(request.raw, error);
    next();
  });
  done();
};

/** Route-named OpenTelemetry server spans for Fastify. */
export const tracing = fp(plugin, { fastify: '5.x', name: '@obskit/tracing' });
export default tracing;
