import type { IncomingMessage, ServerResponse } from 'node:http';
import { invalidOption, requestContextOf, responseUpgraded } from '@obskit/core/internal';
import { context as otelContext } from '@opentelemetry/api';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Registry } from 'prom-client';
import {
  closeOnShutdown,
  createWebSocketMetrics,
  echoRequestId,
  type WebSocketLike,
  type WebSocketMetrics,
  type WebSocketMetricsOptions,
  type WebSocketServerLike,
} from './index.js';

export interface WebSocketPluginOptions extends Omit<WebSocketMetricsOptions, 'registry'> {
  /** Default: the registry of obskit's metrics plugin (`app.metrics.registry`). */
  registry?: Registry;
  /** The header the request id is echoed in, in the 101 answer. Default `x-request-id`. */
  requestIdHeader?: string;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** obskit's WebSocket metrics. */
    websocketMetrics: WebSocketMetrics;
  }
}

const kUpgrade = Symbol('obskit.websocket.upgrade');
type UpgradeRequest = IncomingMessage & {
  [kUpgrade]?: { route: string | undefined; res: ServerResponse };
};

const plugin: FastifyPluginAsync<WebSocketPluginOptions> = async (fastify, options = {}) => {
  const app = fastify as FastifyInstance & {
    metrics?: { registry?: Registry };
    websocketServer?: {
      on(event: 'connection', fn: (s: WebSocketLike, r: IncomingMessage) => void): unknown;
    };
  };
  const registry = options.registry ?? app.metrics?.registry;
  if (registry === undefined) {
    throw invalidOption(
      'websocket.registry',
      "a prom-client Registry (or obskit's metrics plugin registered first)",
      registry,
    );
  }
  const server = app.websocketServer as WebSocketServerLike | undefined;
  if (server === undefined) {
    throw invalidOption('websocket', '@fastify/websocket registered before this plugin', server);
  }
  const { requestIdHeader: _header, ...metricOptions } = options;
  const metrics = createWebSocketMetrics({ ...metricOptions, registry });
  fastify.decorate('websocketMetrics', metrics);
  // obskit's graceful shutdown (the health plugin's) closes the connections after the drain.
  closeOnShutdown(metrics, (app as { health?: Parameters<typeof closeOnShutdown>[1] }).health);

  // @fastify/websocket runs the upgrade request through Fastify's routing and hooks (request id,
  // server span, HTTP metrics) and marks it `request.ws`; its route template is kept for the
  // connection.
  fastify.addHook('onRequest', (request, reply, done) => {
    if ((request as { ws?: boolean }).ws === true) {
      (request.raw as UpgradeRequest)[kUpgrade] = {
        route: request.routeOptions.url,
        res: reply.raw,
      };
    }
    done();
  });

  const header = (options.requestIdHeader ?? 'x-request-id').toLowerCase();
  server.on('headers', (headers: string[], raw: IncomingMessage) =>
    echoRequestId(headers, raw, header),
  );
  // Emitted once the handshake is answered, inside the route's handler (its trace context).
  server.on('connection', (socket: WebSocketLike, raw: IncomingMessage) => {
    const upgrade = (raw as UpgradeRequest)[kUpgrade];
    if (upgrade !== undefined) responseUpgraded(raw, upgrade.res);
    metrics.track(socket, {
      route: upgrade?.route,
      context: requestContextOf(raw),
      parent: otelContext.active(),
    });
  });
};

/**
 * WebSocket metrics for `@fastify/websocket` routes, registered after it (and after obskit, whose
 * metrics registry it uses by default). The upgrade request is an ordinary request to obskit: its
 * request id, its server span and its HTTP metrics (status 101, ended at the handshake); each
 * connection is then counted by route, and its events run in the upgrade request's context.
 */
export const websocketMetrics = fp(plugin, {
  fastify: '5.x',
  name: '@obskit/websocket',
  dependencies: ['@fastify/websocket'],
});
export default websocketMetrics;
