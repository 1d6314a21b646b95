import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { markEndpoint, pathOf, registerEndpointPath } from '@obskit/core/internal';
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

/**
 * Express middleware serving the probes: `const h = health(opts); app.use(h);
 * h.attach(app.listen(3000))`.
 */
export function health(options: HealthOptions = {}): HealthMiddleware {
  const state = createHealth(options);
  for (const path of Object.values(state.paths)) registerEndpointPath(path);
  const middleware = function obskitHealth(
    req: IncomingMessage,
    res: ServerResponse,
    next: (err?: unknown) => void,
  ) {
    state.track(req, res);
    const path = req.method === 'GET' || req.method === 'HEAD' ? pathOf(req.url) : undefined;
    const pending = path === undefined ? undefined : state.handle(path);
    if (pending === undefined) {
      next();
      return;
    }
    markEndpoint(req, path!);
    pending.then(
      (result) => send(req, res, result),
      // handle() answers every failure itself; this is the last line of defence.
      (error: unknown) => next(error),
    );
  } as unknown as HealthMiddleware;

  middleware.health = state;
  middleware.attach = (server) => {
    if (server.listening) state.markStarted();
    else server.once('listening', () => state.markStarted());
    state.setServerCloser(() => drainServer(server));
    return server;
  };
  return middleware;
}

export default health;
