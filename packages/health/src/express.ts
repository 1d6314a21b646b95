import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { expressMiddleware, pathOf, type ExpressFeature } from '@obskit/core/internal';
import type { RequestHandler } from 'express';
import { createHealth, type Health } from './health.js';
import { drainServer } from './shutdown.js';
import type { HealthOptions, HealthResponse } from './types.js';

export type { HealthOptions } from './types.js';

export type HealthMiddleware = RequestHandler & {
  health: Health;
  /**
   * Hands obskit the `http.Server`: startup turns 200 once it listens, and the graceful shutdown
   * stops it accepting, closes idle keep-alive connections and waits for in-flight requests.
   */
  attach(server: Server): Server;
};

function send(req: IncomingMessage, res: ServerResponse, result: HealthResponse): void {
  res.statusCode = result.statusCode;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('cache-control', 'no-store');
  res.end(req.method === 'HEAD' ? undefined : JSON.stringify(result.body));
}

/** The health feature as the obskit umbrella composes it, with its state and `attach`. */
export function healthFeature(options: HealthOptions = {}): {
  feature: ExpressFeature;
  health: Health;
  attach(server: Server): Server;
} {
  const state = createHealth(options);
  const feature: ExpressFeature = {
    steps: [state.step],
    endpoints: [...new Set(Object.values(state.paths))],
    serve(req, res, next) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return false;
      const pending = state.handle(pathOf(req.url));
      if (pending === undefined) return false;
      pending.then(
        (result) => send(req, res, result),
        // handle() answers every failure itself; this is the last line of defence.
        (error: unknown) => next(error),
      );
      return true;
    },
  };
  return {
    feature,
    health: state,
    attach(server) {
      if (server.listening) state.markStarted();
      else server.once('listening', () => state.markStarted());
      state.setServerCloser(() => drainServer(server));
      return server;
    },
  };
}

/**
 * Express middleware serving the probes: `const h = health(opts); app.use(h);
 * h.attach(app.listen(3000))`.
 */
export function health(options: HealthOptions = {}): HealthMiddleware {
  const { feature, health: state, attach } = healthFeature(options);
  const middleware = expressMiddleware([feature]) as unknown as HealthMiddleware;
  middleware.health = state;
  middleware.attach = attach;
  return middleware;
}

export default health;
