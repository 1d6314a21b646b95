import type { EventEmitter } from 'node:events';
import { ServerResponse, type IncomingMessage } from 'node:http';
import {
  bindEmitterToContext,
  bucketsOption,
  getRequestContext,
  guardCallback,
  invalidOption,
  noteRequestError,
  optionBoolean,
  optionFunction,
  optionNumber,
  optionObject,
  registryOption,
  requestContextOf,
  responseUpgraded,
  routeLabel,
  runWithRequestContext,
  type RequestContext,
} from '@obskit/core/internal';
import { getOrCreateCounter, getOrCreateGauge, getOrCreateHistogram } from '@obskit/metrics';
import { createRequestIds, type RequestIdOptions } from '@obskit/request-id';
import {
  context as otelContext,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Context,
} from '@opentelemetry/api';
import type { Registry } from 'prom-client';

/** The parts of a `ws` WebSocket obskit reads. */
export interface WebSocketLike extends EventEmitter {
  send(...args: never[]): unknown;
  /** `ws`: a close frame with a code (1001 at shutdown). */
  close?(code?: number, reason?: string): unknown;
  /** `ws`: ends the connection without a close handshake. */
  terminate?(): unknown;
}

/** The parts of a `ws` WebSocketServer obskit reads. */
export interface WebSocketServerLike extends EventEmitter {
  options?: { path?: string };
}

export interface WebSocketMetricsOptions {
  /** The registry the metrics go to (the app's: `app.metrics.registry`, `o.metrics.registry`). */
  registry: Registry;
  /** Connection duration buckets in seconds. Default 1 s to 4 h. */
  buckets?: number[];
  /** A span per connection (`WS <route>`), a child of the upgrade request's trace. Default false. */
  span?: boolean;
  /** Most distinct `route` values; later ones are counted as `__other__`. Default 100. */
  maxRoutes?: number;
}

export interface TrackOptions {
  /** The route template of the upgrade request (`/chat/:room`), never its raw URL. */
  route: string | undefined;
  /** The upgrade request's obskit context (request id, trace): the connection's events run in it. */
  context?: RequestContext;
  /** The trace the connection span continues. Default: the active one. */
  parent?: Context;
}

export interface WebSocketMetrics {
  readonly registry: Registry;
  /** Counts a new connection, its messages both ways and its close. */
  track(socket: WebSocketLike, options: TrackOptions): void;
  /** Connections open now. */
  readonly open: number;
  /**
   * The graceful shutdown's part (health's `onServerClose`, which the plugin and
   * `trackWebSocketServer` register with): every open connection gets a close frame 1001 (Going
   * Away), one that has not closed after `graceMs` (default 2000) is terminated, connections
   * opened from then on are closed at once; resolves when none is open.
   */
  closeAll(options?: { graceMs?: number; reason?: string }): Promise<void>;
}

/** Registers `metrics.closeAll` with a health instance's shutdown, when there is one. */
export function closeOnShutdown(
  metrics: WebSocketMetrics,
  health:
    | { onServerClose?(closer: { close(): Promise<void>; pending(): string | undefined }): void }
    | undefined,
): void {
  health?.onServerClose?.({
    close: () => metrics.closeAll(),
    pending: () => (metrics.open > 0 ? `${metrics.open} WebSocket connection(s)` : undefined),
  });
}

export const DEFAULT_CONNECTION_BUCKETS: readonly number[] = Object.freeze([
  1, 5, 15, 60, 300, 900, 1800, 3600, 14_400,
]);

// Close codes as `code` label values: the standard ones by number, the two reserved ranges by
// name, anything else `other` (RFC 6455 §7.4 and IANA's registry).
const STANDARD_CODES = new Set([
  1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015,
]);

const ignoreSocketError = (): void => {};

/** The `code` label of a close code: bounded whatever the peer sends. */
export function closeCodeLabel(code: unknown): string {
  if (typeof code !== 'number' || !Number.isInteger(code)) return 'other';
  if (STANDARD_CODES.has(code)) return String(code);
  if (code >= 3000 && code <= 3999) return '3000-3999';
  if (code >= 4000 && code <= 4999) return '4000-4999';
  return 'other';
}

/**
 * `websocket_connections_active{route}`, `websocket_connections_total{route}`,
 * `websocket_messages_total{route,direction}` (`received`, `sent`),
 * `websocket_connection_duration_seconds{route}` and `websocket_closes_total{route,code}` (close
 * codes bounded by `closeCodeLabel`).
 */
export function createWebSocketMetrics(options: WebSocketMetricsOptions): WebSocketMetrics {
  optionObject(options, 'websocket');
  const registry = options?.registry;
  registryOption(registry, 'websocket.registry');
  const buckets = bucketsOption(options.buckets, 'websocket.buckets', DEFAULT_CONNECTION_BUCKETS);
  const span = optionBoolean(options.span, 'websocket.span', false);
  const maxRoutes = optionNumber(options.maxRoutes, 'websocket.maxRoutes', 100, {
    min: 1,
    integer: true,
  });

  const active = getOrCreateGauge(registry, {
    name: 'websocket_connections_active',
    help: 'WebSocket connections open now, by route.',
    labelNames: ['route'],
  });
  const total = getOrCreateCounter(registry, {
    name: 'websocket_connections_total',
    help: 'WebSocket connections opened, by route.',
    labelNames: ['route'],
  });
  const messages = getOrCreateCounter(registry, {
    name: 'websocket_messages_total',
    help: 'WebSocket messages, by route and direction (received, sent).',
    labelNames: ['route', 'direction'],
  });
  const duration = getOrCreateHistogram(registry, {
    name: 'websocket_connection_duration_seconds',
    help: 'How long WebSocket connections stayed open, in seconds, by route.',
    labelNames: ['route'],
    buckets,
  });
  const closes = getOrCreateCounter(registry, {
    name: 'websocket_closes_total',
    help: 'WebSocket connections closed, by route and close code (standard codes, 3000-3999, 4000-4999, other).',
    labelNames: ['route', 'code'],
  });

  // The label children of each route, made once; at most `maxRoutes` routes.
  const routes = new Map<string, ReturnType<typeof childrenOf>>();
  function childrenOf(route: string) {
    return {
      route,
      active: active.labels(route),
      total: total.labels(route),
      received: messages.labels(route, 'received'),
      sent: messages.labels(route, 'sent'),
      duration: duration.labels(route),
    };
  }
  const children = (template: string | undefined) => {
    let route = routeLabel(template);
    let found = routes.get(route);
    if (found === undefined) {
      if (routes.size >= maxRoutes) route = '__other__';
      found = routes.get(route) ?? childrenOf(route);
      routes.set(route, found);
    }
    return found;
  };
  const tracer = () => trace.getTracer('@obskit/websocket');

  // Every open connection, for the shutdown.
  const sockets = new Set<WebSocketLike>();
  let closing: { reason: string; drained: () => void } | undefined;
  const goAway = (socket: WebSocketLike, reason: string): void => {
    try {
      socket.close?.(1001, reason);
    } catch {
      socket.terminate?.();
    }
  };

  return {
    registry,
    get open() {
      return sockets.size;
    },
    closeAll({ graceMs = 2000, reason = 'server shutting down' } = {}) {
      return new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          resolve();
        };
        closing = { reason, drained: () => sockets.size === 0 && done() };
        const timer = setTimeout(() => {
          for (const socket of sockets) socket.terminate?.();
        }, graceMs);
        timer.unref();
        if (sockets.size === 0) return done();
        for (const socket of sockets) goAway(socket, reason);
      });
    },
    track(socket, { route: template, context, parent }) {
      const c = children(template);
      sockets.add(socket);
      const start = performance.now();
      c.active.inc();
      c.total.inc();
      let received = 0;
      let sent = 0;
      const connectionSpan = span
        ? tracer().startSpan(
            `WS ${c.route}`,
            {
              kind: SpanKind.SERVER,
              attributes: { 'http.route': c.route, 'network.protocol.name': 'websocket' },
            },
            parent ?? otelContext.active(),
          )
        : undefined;
      // Counted first, before the application's own listeners.
      socket.on('message', () => {
        received++;
        c.received.inc();
      });
      const send = socket.send;
      socket.send = function (this: WebSocketLike, ...args: never[]) {
        sent++;
        c.sent.inc();
        return send.apply(this, args);
      } as WebSocketLike['send'];
      // A client's protocol error (an invalid frame, a close code no peer may send) ends that
      // connection, counted under its close code; it never crashes the process for want of an
      // 'error' listener. The application's own listeners still run.
      socket.on('error', ignoreSocketError);
      socket.once('close', (code: unknown) => {
        sockets.delete(socket);
        closing?.drained();
        c.active.dec();
        c.duration.observe((performance.now() - start) / 1000);
        closes.inc({ route: c.route, code: closeCodeLabel(code) });
        if (connectionSpan !== undefined) {
          connectionSpan.setAttributes({
            'websocket.close_code': typeof code === 'number' ? code : 0,
            'websocket.messages.received': received,
            'websocket.messages.sent': sent,
          });
          connectionSpan.end();
        }
      });
      // The application's listeners run in the upgrade request's context (its request id), or in
      // the connection span's: their log lines carry reqId and the trace ids.
      const base = context ?? getRequestContext();
      if (base !== undefined) {
        const bound =
          connectionSpan === undefined
            ? base
            : runWithRequestContext(base, () =>
                otelContext.with(
                  trace.setSpan(otelContext.active(), connectionSpan),
                  () => getRequestContext() ?? base,
                ),
              );
        bindEmitterToContext(socket, bound);
      }
      // Opened while the server shuts down: told to go away at once.
      if (closing !== undefined) goAway(socket, closing.reason);
    },
  };
}

export interface WebSocketServerOptions extends WebSocketMetricsOptions {
  /** The route label: a template or a function of the upgrade request. Default: the server's `path`, else `/`. */
  route?: string | ((req: IncomingMessage) => string | undefined);
  /**
   * The obskit middleware (`o` from `obskit/express`): each upgrade goes through it as the request
   * it is (request id, access line, server span, HTTP metrics), answered 101 at the handshake.
   * Without it, the upgrade gets its request id (`requestId`) and trace context only.
   */
  middleware?: (req: never, res: never, next: (err?: unknown) => void) => void;
  /**
   * The health state whose graceful shutdown closes the connections (1001 after the drain delay;
   * see `closeAll`). Default: the obskit middleware's (`o.health`), when `middleware` is given.
   */
  health?: Parameters<typeof closeOnShutdown>[1];
  /** Request ids for upgrade requests without `middleware` (`false`: none). */
  requestId?: RequestIdOptions | false;
  /** The header the request id is echoed in, in the 101 answer. Default `x-request-id`. */
  requestIdHeader?: string;
}

type UpgradeRequest = IncomingMessage & {
  baseUrl?: string;
  route?: { path: string };
  [kResponse]?: ServerResponse;
  [kFailed]?: true;
};
const kResponse = Symbol('obskit.websocket.response');
const kFailed = Symbol('obskit.websocket.failed');

/** The close code a connection whose upgrade failed in the middleware gets (RFC 6455: internal error). */
export const UPGRADE_ERROR_CLOSE_CODE = 1011;

/**
 * The request id echoed in a WebSocket handshake's 101 answer (`ws`'s `headers` event), as
 * obskit echoes it on every other response.
 */
export function echoRequestId(
  headers: string[],
  req: IncomingMessage,
  header = 'x-request-id',
): void {
  const id = requestContextOf(req).reqId;
  if (id !== undefined) headers.push(`${header}: ${id}`);
}

/**
 * Tracks every connection of a `ws` WebSocketServer (on an Express or plain `node:http` server,
 * whose upgrades never reach the framework's router): the upgrade request gets its request id
 * (echoed in the 101 answer) and continues its W3C trace context, through the obskit middleware
 * when given, and the connection's events run in that context.
 */
export function trackWebSocketServer(
  wss: WebSocketServerLike,
  options: WebSocketServerOptions,
): WebSocketMetrics {
  if (wss === null || typeof wss !== 'object' || typeof wss.on !== 'function') {
    throw invalidOption('websocket.server', 'a ws WebSocketServer', wss);
  }
  const metrics = createWebSocketMetrics(options);
  closeOnShutdown(
    metrics,
    options.health ??
      (options.middleware as { health?: Parameters<typeof closeOnShutdown>[1] } | undefined)
        ?.health,
  );
  const routeOption = options.route;
  if (
    routeOption !== undefined &&
    typeof routeOption !== 'function' &&
    typeof routeOption !== 'string'
  ) {
    throw invalidOption('websocket.route', 'a route template or a function', routeOption);
  }
  // A route function that throws is reported once; the connection then counts as unmatched.
  const routeOf =
    typeof routeOption === 'function'
      ? guardCallback(routeOption, 'websocket.route', undefined)
      : () => routeOption ?? wss.options?.path ?? '/';
  // Called with the upgrade request and a response of its own, as Express calls middleware.
  const middleware = optionFunction<
    (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void
  >(options.middleware, 'websocket.middleware');
  const ids =
    middleware !== undefined || options.requestId === false
      ? undefined
      : createRequestIds(options.requestId ?? {});
  const header = (options.requestIdHeader ?? ids?.header ?? 'x-request-id').toLowerCase();

  // Before the 101 is written: the upgrade request as obskit sees any request.
  wss.on('headers', (headers: string[], req: UpgradeRequest) => {
    const route = routeOf(req);
    if (middleware !== undefined) {
      // Its route as Express would have set it, had a router matched it.
      req.baseUrl = '';
      req.route = { path: routeLabel(route) };
      const res = new ServerResponse(req);
      req[kResponse] = res;
      // `next(err)`, as Express's error path: the error is noted for the upgrade's access line,
      // error line and span, and the connection is closed with 1011 once open (the 101 is on its
      // way already). `next('route')` / `next('router')` are not errors.
      middleware(req, res, (err?: unknown) => {
        if (err === undefined || err === null || err === 'route' || err === 'router') return;
        noteRequestError(req, err);
        req[kFailed] = true;
      });
    } else {
      ids?.begin(req);
    }
    echoRequestId(headers, req, header);
  });
  wss.on('connection', (socket: WebSocketLike, req: UpgradeRequest) => {
    const res = req[kResponse];
    if (res !== undefined) responseUpgraded(req, res);

    const base = requestContextOf(req);
    let parent: Context;
    let context: RequestContext;
    if (middleware !== undefined) {
      // The server span the middleware started.
      parent = runWithRequestContext(base, () => otelContext.active());
      context = base;
    } else {
      // The W3C trace context of the upgrade request, as a server span would continue it.
      parent = propagation.extract(ROOT_CONTEXT, req.headers);
      context = runWithRequestContext(base, () =>
        otelContext.with(parent, () => getRequestContext() ?? base),
      );
    }
    metrics.track(socket, { route: req.route?.path ?? routeOf(req), context, parent });
    if (req[kFailed]) socket.close?.(UPGRADE_ERROR_CLOSE_CODE, 'internal error');
  });
  return metrics;
}
