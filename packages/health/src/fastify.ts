import { fastifyPipeline, type Logger } from '@obskit/core/internal';
import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { createHealth, type Health } from './health.js';
import { drainServer } from './shutdown.js';
import type { HealthOptions, HealthResponse } from './types.js';

export type { HealthOptions } from './types.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Probes, hold/release for work that must finish, and the graceful shutdown. */
    health: Health;
  }
}

// Async: an error at registration (a bad option, a metric name conflict) rejects the
// `register` promise and `app.ready()`, never escaping as an uncaught exception.
const plugin: FastifyPluginAsync<HealthOptions> = async (app, options) => {
  // Fastify's own logger when it logs; obskit's logger when Fastify runs without one.
  const fastifyLogs = typeof app.log.level === 'string' && app.log.level !== 'silent';
  const health = createHealth({
    ...options,
    ...((options.logger ?? fastifyLogs)
      ? { logger: options.logger ?? (app.log as unknown as Logger) }
      : {}),
  });
  app.decorate('health', health);
  // From the signal on, responses carry `Connection: close`.
  const pipeline = fastifyPipeline(app);
  pipeline.add(health.step);
  const paths = [...new Set(Object.values(health.paths))];
  for (const path of paths) {
    pipeline.addEndpoint(path);
    app.get(path, { logLevel: 'warn' }, async (_request, reply) => {
      const result = await (health.handle(path) as Promise<HealthResponse>);
      return reply.code(result.statusCode).header('cache-control', 'no-store').send(result.body);
    });
  }
  app.addHook('onListen', (next) => {
    health.markStarted();
    next();
  });
  // The server drains first: every request that reaches it is served (Fastify's own close
  // answers 503 to requests on connections still open). Once every connection has ended,
  // Fastify's close runs the onClose hooks.
  health.setServerCloser(async () => {
    await drainServer(app.server);
    await app.close();
  });
  app.addHook('onClose', (_instance, next) => {
    health.close();
    next();
  });
};

/** Liveness, readiness and startup probes and graceful shutdown for Fastify. */
export const health = fp(plugin, { fastify: '5.x', name: '@obskit/health' });
export default health;
