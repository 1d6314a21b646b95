import type { FastifyPluginCallback, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { createServerTracing, runRequestInSpan, tracingActive, type ServerSpan } from './server.js';

const kSpan = Symbol('obskit.tracing.span');
const kError = Symbol('obskit.tracing.error');
type Traced = FastifyRequest & { [kSpan]?: ServerSpan; [kError]?: unknown };

export interface TracingPluginOptions {
  /** Make spans even when no SDK was started at registration. Default false: a no-op then. */
  force?: boolean;
}

const plugin: FastifyPluginCallback<TracingPluginOptions> = (app, options, done) => {
  // Decided once: without a started SDK the plugin adds no hook at all.
  if (options.force !== true && !tracingActive()) {
    done();
    return;
  }
  const server = createServerTracing();
  app.addHook('onRequest', (request, _reply, next) => {
    const state = server.start(request.raw);
    (request as Traced)[kSpan] = state;
    runRequestInSpan(request.raw, state, next);
  });
  app.addHook('onError', (request, _reply, error, next) => {
    (request as Traced)[kError] = error;
    next();
  });
  app.addHook('onResponse', (request, reply, next) => {
    const state = (request as Traced)[kSpan];
    if (state !== undefined)
      server.end(state, request.routeOptions.url, reply.statusCode, (request as Traced)[kError]);
    next();
  });
  app.addHook('onRequestAbort', (request, next) => {
    const state = (request as Traced)[kSpan];
    if (state !== undefined) server.end(state, request.routeOptions.url, undefined);
    next();
  });
  done();
};

/** Route-named OpenTelemetry server spans for Fastify. */
export const tracing = fp(plugin, { fastify: '5.x', name: '@obskit/tracing' });
export default tracing;
