import { markEndpoint, registerEndpointPath, type Logger } from '@obskit/core/internal';
import type { FastifyPluginCallback } from 'fastify';
import fp from 'fastify-plugin';
import { createHealth, type Health } from './health.js';
import type { HealthOptions, HealthResponse } from './types.js';

export type { HealthOptions } from './types.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Probes, hold/release for work that must finish, and the graceful shutdown. */
    health: Health;
  }
}

const plugin: FastifyPluginCallback<HealthOptions> = (app, options, done) => {
  // Fastify's own logger when it logs; obskit's logger when Fastify runs without one.
  const fastifyLogs = typeof app.log.level === 'string' && app.log.level !== 'silent';
  const health = createHealth({
    ...options,
    ...((options.logger ?? fastifyLogs)
      ? { logger: options.logger ?? (app.log as unknown as Logger) }
      : {}),
  });
  app.decorate('health', health);
  const paths = [...new Set(Object.values(health.paths))];
  for (const path of paths) {
    registerEndpointPath(path);
    app.get(path, { logLevel: 'warn' }, async (request, reply) => {
      markEndpoint(request.raw, path);
      const result = await (health.handle(path) as Promise<HealthResponse>);
      return reply.code(result.statusCode).header('cache-control', 'no-store').send(result.body);
    });
  }
  app.addHook('onListen', (next) => {
    health.markStarted();
    next();
  });
  // Fastify's close stops accepting, closes idle keep-alive connections, waits for in-flight
  // requests and runs onClose hooks.
  // Keep-alive connections that turn idle after their last response are closed as they do.
  health.setServerCloser(async () => {
    const sweep = setInterval(() => app.server.closeIdleConnections(), 50);
    sweep.unref();
    try {
      await app.close();
    } finally {
      clearInterval(sweep);
    }
  });
  app.addHook('onClose', (_instance, next) => {
    health.close();
    next();
  });
  done();
};

/** Liveness, readiness and startup probes and graceful shutdown for Fastify. */
export const health = fp(plugin, { fastify: '5.x', name: '@obskit/health' });
export default health;
