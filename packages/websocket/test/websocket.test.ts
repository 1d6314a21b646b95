// WebSocket connections on both frameworks, with real `ws` clients on 127.0.0.1: @fastify/websocket
// routes on Fastify, a `ws` WebSocketServer beside Express, both with the obskit umbrella.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect as connectTcp } from 'node:net';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage } from 'node:http';
import fastifyWebsocket from '@fastify/websocket';
import { createLogger } from '@obskit/core';
import { listen, logSink, waitFor, type LogSink } from '@obskit/test-support';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import express from 'express';
import Fastify from 'fastify';
import { obskit as expressObskit } from 'obskit/express';
import { obskit as fastifyObskit, obskitServerOptions } from 'obskit/fastify';
import { Registry } from 'prom-client';
import type {} from '@obskit/metrics/fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { closeCodeLabel, createWebSocketMetrics, trackWebSocketServer } from '../src/index.js';
import { websocketMetrics } from '../src/fastify.js';

const exporter = new InMemorySpanExporter();
const tracing = { exporter, processor: 'simple' as const, outgoing: false };
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
  exporter.reset();
});

interface Running {
  /** ws://… of the `/chat/:room` route (Fastify) or the server's path (Express). */
  wsUrl: (room: string) => string;
  httpUrl: string;
  registry: Registry;
  sink: LogSink;
}

// The application: echoes each message back and logs it (the line must carry the request id).
function onConnection(socket: WebSocket, logger: { info(o: object, m: string): void }) {
  socket.on('message', (data) => {
    logger.info({ size: String(data).length }, 'message received');
    socket.send(`echo:${String(data)}`);
  });
}

const frameworks: { name: string; start(span?: boolean): Promise<Running> }[] = [
  {
    name: 'fastify',
    async start(span = false) {
      const sink = logSink();
      const logger = createLogger({ service: 'chat', destination: sink.stream });
      const options = { service: 'chat', logger, tracing, health: { shutdown: false as const } };
      const app = Fastify(obskitServerOptions(options));
      await app.register(fastifyObskit, options);
      await app.register(fastifyWebsocket);
      await app.register(websocketMetrics, { span });
      app.get('/chat/:room', { websocket: true }, (socket, request) =>
        onConnection(socket, request.log),
      );
      await app.listen({ port: 0, host: '127.0.0.1' });
      closers.push(() => app.close());
      const port = (app.server.address() as { port: number }).port;
      return {
        wsUrl: (room) => `ws://127.0.0.1:${port}/chat/${room}`,
        httpUrl: `http://127.0.0.1:${port}`,
        registry: app.metrics.registry,
        sink,
      };
    },
  },
  {
    name: 'express',
    async start(span = false) {
      const sink = logSink();
      const logger = createLogger({ service: 'chat', destination: sink.stream });
      const o = expressObskit({ service: 'chat', logger, tracing, health: { shutdown: false } });
      const app = express();
      app.use(o);
      const running = await listen(app);
      o.attach(running.server);
      const wss = new WebSocketServer({ noServer: true });
      // The room is part of the URL; the route label is its template.
      running.server.on('upgrade', (req: IncomingMessage, socket, head) => {
        if (!req.url?.startsWith('/chat/')) return socket.destroy();
        wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
      });
      trackWebSocketServer(wss, {
        registry: o.metrics!.registry,
        route: '/chat/:room',
        middleware: o,
        span,
      });
      wss.on('connection', (socket) => onConnection(socket, logger));
      closers.push(async () => {
        for (const client of wss.clients) client.terminate();
        await running.close();
      });
      return {
        wsUrl: (room) => `${running.url.replace('http', 'ws')}/chat/${room}`,
        httpUrl: running.url,
        registry: o.metrics!.registry,
        sink,
      };
    },
  },
];

async function connect(url: string, headers: Record<string, string> = {}) {
  const ws = new WebSocket(url, { headers });
  // 'open' follows 'upgrade' in the same turn: both listened for at once.
  const [[upgrade]] = (await Promise.all([once(ws, 'upgrade'), once(ws, 'open')])) as [
    [IncomingMessage],
    unknown,
  ];
  return { ws, upgrade };
}

async function exchange(ws: WebSocket, text: string): Promise<string> {
  const reply = once(ws, 'message');
  ws.send(text);
  return String((await reply)[0]);
}

async function value(registry: Registry, name: string, labels: Record<string, string>) {
  const metric = registry.getSingleMetric(name);
  const data = await metric?.get();
  const found = data?.values.find((v) =>
    Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x),
  );
  return found?.value ?? 0;
}

const seriesCount = async (registry: Registry) =>
  (await registry.metrics()).split('\n').filter((l) => l.startsWith('websocket_')).length;

describe.each(frameworks)('WebSocket connections on $name', ({ start }) => {
  it('counts a connection, its messages both ways and its close, by route template', async () => {
    const app = await start();
    const { ws } = await connect(app.wsUrl('lobby'));
    const route = { route: '/chat/:room' };
    await waitFor(
      async () => (await value(app.registry, 'websocket_connections_active', route)) === 1,
    );
    for (const text of ['a', 'bb', 'ccc']) expect(await exchange(ws, text)).toBe(`echo:${text}`);
    expect(await value(app.registry, 'websocket_connections_total', route)).toBe(1);
    expect(
      await value(app.registry, 'websocket_messages_total', { ...route, direction: 'received' }),
    ).toBe(3);
    expect(
      await value(app.registry, 'websocket_messages_total', { ...route, direction: 'sent' }),
    ).toBe(3);
    ws.close(1000, 'bye');
    await waitFor(
      async () => (await value(app.registry, 'websocket_connections_active', route)) === 0,
    );
    expect(await value(app.registry, 'websocket_closes_total', { ...route, code: '1000' })).toBe(1);
    const text = await app.registry.metrics();
    expect(text).toContain('websocket_connection_duration_seconds_count{route="/chat/:room"} 1');
    // The raw URL never becomes a label.
    expect(text).not.toContain('lobby');
    // The upgrade is an HTTP request answered 101, counted once.
    expect(text).toMatch(
      /http_requests_total\{method="GET",route="\/chat\/:room",status_code="101"\} 1/,
    );
    expect(await value(app.registry, 'http_requests_in_flight', {})).toBe(0);
    // One access line for the upgrade, with its status.
    const access = app.sink.lines().filter((l) => l.msg === 'request completed');
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({ route: '/chat/:room', statusCode: 101 });
  });

  it('keeps the request id of the upgrade, echoed in the 101 and on every message line', async () => {
    const app = await start();
    const { ws, upgrade } = await connect(app.wsUrl('a'), { 'x-request-id': 'chat-req-1' });
    expect(upgrade.headers['x-request-id']).toBe('chat-req-1');
    await exchange(ws, 'hello');
    const line = app.sink.lines().find((l) => l.msg === 'message received');
    expect(line?.reqId).toBe('chat-req-1');
    ws.close();

    // A hostile id is replaced, never echoed.
    const bad = await connect(app.wsUrl('b'), { 'x-request-id': 'bad id <script>' });
    const id = bad.upgrade.headers['x-request-id'];
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    app.sink.clear();
    await exchange(bad.ws, 'x');
    expect(app.sink.lines().find((l) => l.msg === 'message received')?.reqId).toBe(id);
    bad.ws.close();
  });

  it('continues the trace of the upgrade request; a span covers the connection', async () => {
    const app = await start(true);
    const { ws } = await connect(app.wsUrl('t'), {
      traceparent: `00-${TRACE}-${PARENT}-01`,
    });
    await exchange(ws, 'hi');
    const line = app.sink.lines().find((l) => l.msg === 'message received');
    expect(line?.trace_id).toBe(TRACE);
    ws.close(4001);
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === 'WS /chat/:room'));
    const spans = exporter.getFinishedSpans();
    const connection = spans.find((s) => s.name === 'WS /chat/:room')!;
    const upgrade = spans.find((s) => s.name === 'GET /chat/:room');
    expect(upgrade?.attributes['http.response.status_code']).toBe(101);
    expect(upgrade?.parentSpanContext?.spanId).toBe(PARENT);
    expect(connection.kind).toBe(SpanKind.SERVER);
    expect(connection.spanContext().traceId).toBe(TRACE);
    expect(connection.parentSpanContext?.spanId).toBe(upgrade?.spanContext().spanId);
    expect(connection.attributes).toMatchObject({
      'websocket.close_code': 4001,
      'websocket.messages.received': 1,
      'websocket.messages.sent': 1,
    });
    // Lines written inside the connection carry the connection span's id.
    expect(line?.span_id).toBe(connection.spanContext().spanId);
  });

  it('counts an abrupt disconnect as 1006 and leaves nothing open', async () => {
    const app = await start();
    const { ws } = await connect(app.wsUrl('x'));
    await exchange(ws, 'x');
    ws.terminate();
    await waitFor(
      async () =>
        (await value(app.registry, 'websocket_closes_total', {
          route: '/chat/:room',
          code: '1006',
        })) === 1,
    );
    expect(
      await value(app.registry, 'websocket_connections_active', { route: '/chat/:room' }),
    ).toBe(0);
  });

  it('lands real closes with non-standard codes in the bounded close-code labels', async () => {
    const app = await start();
    const route = '/chat/:room';
    const closes = (code: string) => value(app.registry, 'websocket_closes_total', { route, code });
    for (const code of [3001, 4321, 4999]) {
      const { ws } = await connect(app.wsUrl(`c${code}`));
      ws.close(code, 'custom');
      await once(ws, 'close');
    }
    // 2999 is not a code a peer may send (RFC 6455 7.4): ws refuses to send it, so it goes out
    // as a raw close frame, and the server fails the connection.
    await rawClose(app.wsUrl('raw'), 2999);
    await waitFor(
      async () => (await closes('3000-3999')) === 1 && (await closes('4000-4999')) === 2,
    );
    await waitFor(
      async () => (await value(app.registry, 'websocket_connections_active', { route })) === 0,
    );
    const text = await app.registry.metrics();
    const codes = [...text.matchAll(/^websocket_closes_total\{[^}]*code="([^"]+)"/gm)].map(
      (m) => m[1],
    );
    // Nothing but the standard codes and the three buckets: never 2999, 3001 or 4321.
    for (const code of codes) expect(code).toMatch(/^(1\d{3}|3000-3999|4000-4999|other)$/);
    expect(codes).not.toContain('2999');
    expect(codes).not.toContain('4321');
    // The raw 2999 close is one more close, under a bounded label.
    const total = (
      await app.registry.getSingleMetric('websocket_closes_total')?.get()
    )?.values.reduce((n, v) => n + v.value, 0);
    expect(total).toBe(4);
  });

  it('1,000 connections opened and closed leave the gauge at 0 and no new series', async () => {
    const app = await start();
    const first = await connect(app.wsUrl('warm'));
    first.ws.close(1000);
    await waitFor(
      async () =>
        (await value(app.registry, 'websocket_connections_active', { route: '/chat/:room' })) === 0,
    );
    const series = await seriesCount(app.registry);
    for (let batch = 0; batch < 10; batch++) {
      const open = await Promise.all(
        Array.from({ length: 100 }, (_, i) => connect(app.wsUrl(`room-${batch}-${i}`))),
      );
      await Promise.all(
        open.map(async ({ ws }, i) => {
          const closed = once(ws, 'close');
          if (i % 2) ws.close(1000);
          else ws.terminate();
          await closed;
        }),
      );
    }
    await waitFor(
      async () =>
        (await value(app.registry, 'websocket_connections_total', { route: '/chat/:room' })) ===
          1001 &&
        (await value(app.registry, 'websocket_connections_active', { route: '/chat/:room' })) === 0,
      10_000,
      'every connection counted and closed',
    );
    // One new series only: the close code 1006 of the terminated half.
    expect(await seriesCount(app.registry)).toBe(series + 1);
  }, 60_000);
});

describe('the Express adapter', () => {
  it("a middleware's next(err) is the upgrade's error: logged, traced, the connection closed 1011", async () => {
    const sink = logSink();
    const logger = createLogger({ service: 'chat', destination: sink.stream });
    const o = expressObskit({ service: 'chat', logger, tracing, health: { shutdown: false } });
    const app = express();
    app.use(o);
    const running = await listen(app);
    const wss = new WebSocketServer({ server: running.server, path: '/chat' });
    closers.push(async () => {
      for (const client of wss.clients) client.terminate();
      await running.close();
    });
    // The obskit middleware, then an auth step that refuses.
    const refusing = (req: never, res: never, next: (err?: unknown) => void) =>
      o(req, res, () => next(new Error('token expired')));
    trackWebSocketServer(wss, { registry: o.metrics!.registry, middleware: refusing, span: true });
    const { ws } = await connect(`${running.url.replace('http', 'ws')}/chat`);
    const [code] = (await once(ws, 'close')) as [number];
    expect(code).toBe(1011);
    await waitFor(() => sink.lines().some((l) => l.msg === 'request completed'));
    const failure = sink
      .lines()
      .find((l) => (l.err as { message?: string })?.message === 'token expired');
    expect(failure?.level).toBe('error');
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === 'GET /chat'));
    const upgrade = exporter.getFinishedSpans().find((s) => s.name === 'GET /chat')!;
    expect(upgrade.events.some((e) => e.name === 'exception')).toBe(true);
    const registry = o.metrics!.registry;
    await waitFor(
      async () =>
        (await value(registry, 'websocket_closes_total', { route: '/chat', code: '1011' })) === 1,
    );
    expect(await value(registry, 'websocket_connections_active', { route: '/chat' })).toBe(0);
  });
});

describe('bounds and options', () => {
  it('bounds close codes', () => {
    expect(closeCodeLabel(1000)).toBe('1000');
    expect(closeCodeLabel(1006)).toBe('1006');
    expect(closeCodeLabel(3001)).toBe('3000-3999');
    expect(closeCodeLabel(4999)).toBe('4000-4999');
    for (const odd of [999, 1004, 2000, 5000, 65_535, -1, 1.5, Number.NaN, '1000', undefined])
      expect(closeCodeLabel(odd)).toBe('other');
  });

  it('caps distinct routes at maxRoutes, the rest counted as __other__', async () => {
    const registry = new Registry();
    const metrics = createWebSocketMetrics({ registry, maxRoutes: 2 });
    const { EventEmitter } = await import('node:events');
    for (const route of ['/a', '/b', '/c', '/d', '/a']) {
      const socket = Object.assign(new EventEmitter(), { send: () => undefined });
      metrics.track(socket, { route });
    }
    const text = await registry.metrics();
    expect(text).toContain('websocket_connections_total{route="/a"} 2');
    expect(text).toContain('websocket_connections_total{route="/b"} 1');
    expect(text).toContain('websocket_connections_total{route="__other__"} 2');
    expect(text).not.toContain('route="/c"');
  });

  it('says what is wrong with bad options', async () => {
    expect(() => createWebSocketMetrics({} as never)).toThrow(
      'OBSKIT_ERR_INVALID_OPTION: websocket.registry must be a prom-client Registry',
    );
    expect(() => createWebSocketMetrics({ registry: new Registry(), buckets: [] })).toThrow(
      'websocket.buckets must be a non-empty array of positive numbers',
    );
    expect(() => trackWebSocketServer({} as never, { registry: new Registry() })).toThrow(
      'websocket.server must be a ws WebSocketServer',
    );
    const app = Fastify();
    await expect(
      app.register(websocketMetrics, { registry: new Registry() }).ready(),
    ).rejects.toThrow(/@fastify\/websocket/);
  });
});

/** Opens a WebSocket by hand and sends a masked close frame with `code`, as a client may not. */
async function rawClose(url: string, code: number): Promise<void> {
  const { hostname, port, pathname } = new URL(url);
  const socket = connectTcp(Number(port), hostname);
  await once(socket, 'connect');
  socket.write(
    `GET ${pathname} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let head = '';
  while (!head.includes('\r\n\r\n')) head += String((await once(socket, 'data'))[0]);
  expect(head).toMatch(/^HTTP\/1\.1 101/);
  const mask = randomBytes(4);
  const payload = Buffer.from([code >> 8, code & 0xff]);
  for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
  socket.write(Buffer.concat([Buffer.from([0x88, 0x80 | payload.length]), mask, payload]));
  socket.on('error', () => {});
  await once(socket, 'close');
}

describe.each(['fastify', 'express'])(
  'SIGTERM with open WebSocket connections on %s',
  (framework) => {
    it('sends each a close 1001 after the drain, runs the hooks with none open, exits 0', async () => {
      const fixture = fileURLToPath(new URL('./fixtures/shutdown-app.mjs', import.meta.url));
      const child = spawn(process.execPath, [fixture, framework], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let markers = '';
      child.stderr?.on('data', (c: Buffer) => (markers += c.toString()));
      const exited = once(child, 'exit');
      try {
        await waitFor(() => /LISTENING \d+/.test(markers), 10_000, `the service:\n${markers}`);
        const port = /LISTENING (\d+)/.exec(markers)?.[1];
        const clients = await Promise.all(
          Array.from({ length: 50 }, (_, i) => connect(`ws://127.0.0.1:${port}/chat/r${i}`)),
        );
        const codes = clients.map(({ ws }) => once(ws, 'close').then(([code]) => code as number));
        expect(await exchange(clients[0]!.ws, 'hi')).toBe('echo:hi');
        const signalled = performance.now();
        child.kill('SIGTERM');
        expect(new Set(await Promise.all(codes))).toEqual(new Set([1001]));
        const [code] = await exited;
        expect(code, markers).toBe(0);
        // Well within the 8 s deadline: the close frames, not the timeout, ended the shutdown.
        expect(performance.now() - signalled).toBeLessThan(6000);
        expect(markers).toContain('HOOK ran, open 0');
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    }, 30_000);
  },
);
