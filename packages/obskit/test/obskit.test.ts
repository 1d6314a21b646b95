import { connect } from 'node:net';
import { createLogger, type Logger } from '@obskit/core';
import { gate, listen, logSink, waitFor, type LogSink } from '@obskit/test-support';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import express, { type NextFunction, type Request, type Response } from 'express';
import Fastify from 'fastify';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getTracingHandle } from '@obskit/tracing';
import { obskit as expressObskit } from '../src/express.js';
import { obskit as fastifyObskit, obskitServerOptions } from '../src/fastify.js';
import type { ObskitOptions } from '../src/options.js';

const exporter = new InMemorySpanExporter();
const tracingOptions = { exporter, processor: 'simple' as const };
afterAll(async () => {
  await getTracingHandle()?.shutdown();
});
beforeEach(() => exporter.reset());
const closers: (() => Promise<unknown>)[] = [];

// The /slow handlers wait here until the test lets them go, so that a client aborts once the
// server has its request, not after a guessed time.
const slowRoute = gate();
afterEach(async () => {
  slowRoute.reset();
  await Promise.all(closers.splice(0).map((close) => close()));
});

interface Running {
  url: string;
  sink: LogSink;
}

class PaymentDeclined extends Error {}

/** Sends one request line as written (fetch would normalise it); reads the answer's head. */
function rawRequest(
  url: string,
  requestLine: string,
): Promise<{ status: number; headers: Record<string, string> }> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const [head = ''] = data.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers });
    });
    // Written, not ended: a client that half-closes first makes Node abort the request.
    socket.write(`${requestLine}\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n`);
  });
}

function routes(logger: () => Logger) {
  return {
    user: async (id: string) => {
      logger().info({ id }, 'loading user');
      // An async hop: the request context must survive it.
      await new Promise<void>((resolve) => setImmediate(resolve));
      return { id };
    },
  };
}

// Runs callbacks from a timer started outside any request: no request context there.
const outside: (() => void)[] = [];
const drain = setInterval(() => {
  for (const fn of outside.splice(0)) fn();
}, 5);
afterAll(() => clearInterval(drain));

/** What a handler does with the framework's request logger (Fastify request.log, Express req.log). */
async function useRequestLogger(log: Logger): Promise<{ ok: true }> {
  log.info('from request logger');
  await new Promise<void>((resolve) =>
    outside.push(() => {
      log.info('outside the request context');
      resolve();
    }),
  );
  return { ok: true };
}

const frameworks = [
  {
    name: 'fastify',
    async start(extra: Partial<ObskitOptions> = {}): Promise<Running> {
      const sink = logSink();
      const logger = createLogger({ service: 'orders', destination: sink.stream });
      const options: ObskitOptions = {
        service: 'orders',
        version: '1.4.0',
        logger,
        tracing: tracingOptions,
        health: { shutdown: false },
        ...extra,
      };
      const app = Fastify(obskitServerOptions(options));
      await app.register(fastifyObskit, options);
      const r = routes(() => logger);
      app.get('/users/:id', async (request) => r.user((request.params as { id: string }).id));
      app.get('/boom', async () => {
        throw new Error('boom');
      });
      app.get('/declined', async () => {
        throw new PaymentDeclined('card declined');
      });
      app.get('/log', async (request) => useRequestLogger(request.log as Logger));
      app.get('/bad', async () => {
        throw Object.assign(new Error('bad input'), { statusCode: 400 });
      });
      app.get('/missing', async () => {
        throw Object.assign(new Error('no such order'), { statusCode: 404 });
      });
      app.get(
        '/valid',
        {
          schema: {
            querystring: {
              type: 'object',
              required: ['n'],
              properties: { n: { type: 'integer' } },
            },
          },
        },
        async () => ({ ok: true }),
      );
      app.get('/slow', async () => {
        await slowRoute.reached();
        return { slow: true };
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      closers.push(() => app.close());
      return { url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`, sink };
    },
  },
  {
    name: 'express',
    async start(extra: Partial<ObskitOptions> = {}): Promise<Running> {
      const sink = logSink();
      const logger = createLogger({ service: 'orders', destination: sink.stream });
      const o = expressObskit({
        service: 'orders',
        version: '1.4.0',
        logger,
        tracing: tracingOptions,
        health: { shutdown: false },
        ...extra,
      });
      const app = express();
      app.use(o);
      const r = routes(() => logger);
      app.get('/users/:id', async (req, res) => {
        res.json(await r.user(req.params.id as string));
      });
      app.get('/boom', () => {
        throw new Error('boom');
      });
      app.get('/declined', () => {
        throw new PaymentDeclined('card declined');
      });
      app.get('/bad', () => {
        throw Object.assign(new Error('bad input'), { status: 400 });
      });
      app.get('/missing', () => {
        throw Object.assign(new Error('no such order'), { status: 404 });
      });
      app.get('/valid', (req, res) => {
        if (!/^\d+$/.test(String(req.query.n ?? ''))) {
          throw Object.assign(new Error('querystring must have required property n'), {
            status: 400,
          });
        }
        res.json({ ok: true });
      });
      app.get('/log', async (req, res) => {
        expect(res.log).toBe(req.log);
        res.json(await useRequestLogger(req.log));
      });
      app.get('/slow', async (_req, res) => {
        await slowRoute.reached();
        if (!res.destroyed) res.json({ slow: true });
      });
      app.use(o.errors());
      app.use(
        (err: Error & { status?: number }, _req: Request, res: Response, _next: NextFunction) => {
          res.status(err.status ?? 500).json({ error: err.message });
        },
      );
      const running = await listen(app);
      o.attach(running.server);
      closers.push(running.close);
      return { url: running.url, sink };
    },
  },
];

describe.each(frameworks)('obskit on $name', (framework) => {
  it('gives handlers a request logger whose lines carry the ids once, in and out of context', async () => {
    const { url, sink } = await framework.start();
    const response = await fetch(`${url}/log`, { headers: { 'x-request-id': 'req-log' } });
    expect(await response.json()).toEqual({ ok: true });
    await waitFor(
      () => exporter.getFinishedSpans().some((s) => s.name === 'GET /log'),
      5000,
      'the server span',
    );
    const server = exporter
      .getFinishedSpans()
      .find((s) => s.kind === SpanKind.SERVER && s.name === 'GET /log');
    const inside = sink.lines().find((l) => l.msg === 'from request logger');
    expect(inside).toMatchObject({
      reqId: 'req-log',
      trace_id: server?.spanContext().traceId,
      service: 'orders',
    });
    expect(sink.lines().find((l) => l.msg === 'outside the request context')).toMatchObject({
      reqId: 'req-log',
    });
    for (const raw of sink
      .raw()
      .filter((l) => l.includes('request logger') || l.includes('outside'))) {
      expect(raw.match(/"reqId"/g)).toHaveLength(1);
      expect(raw.match(/"trace_id"/g)?.length ?? 0).toBeLessThanOrEqual(1);
    }
  });

  it('turns everything on: id, span, metrics, health and one access line per request', async () => {
    const { url, sink } = await framework.start();
    const response = await fetch(`${url}/users/7`, { headers: { 'x-request-id': 'req-abc' } });
    expect(response.headers.get('x-request-id')).toBe('req-abc');
    expect(await response.json()).toEqual({ id: '7' });
    await fetch(`${url}/boom`, { headers: { 'x-request-id': 'req-boom' } });
    await waitFor(
      () => sink.lines().filter((l) => l.msg === 'request completed').length >= 2,
      5000,
      'both access lines',
    );

    const server = exporter
      .getFinishedSpans()
      .find((s) => s.kind === SpanKind.SERVER && s.name === 'GET /users/:id');
    expect(server).toBeDefined();
    const traceId = server?.spanContext().traceId;

    const lines = sink.lines();
    const handlerLine = lines.find((l) => l.msg === 'loading user');
    expect(handlerLine).toMatchObject({ reqId: 'req-abc', trace_id: traceId, service: 'orders' });
    const access = lines.filter((l) => l.msg === 'request completed');
    expect(access, JSON.stringify(access)).toHaveLength(2);
    expect(access.find((l) => l.reqId === 'req-abc')).toMatchObject({
      method: 'GET',
      path: '/users/7',
      route: '/users/:id',
      statusCode: 200,
      trace_id: traceId,
    });
    expect(access.find((l) => l.reqId === 'req-boom')).toMatchObject({
      route: '/boom',
      statusCode: 500,
    });
    for (const raw of sink.raw().filter((l) => l.includes('request completed'))) {
      expect(raw.match(/"reqId"/g)).toHaveLength(1);
    }
    expect(typeof access[0]?.durationMs).toBe('number');

    const metricsText = await (await fetch(`${url}/metrics`)).text();
    expect(metricsText).toContain(
      'http_requests_total{method="GET",route="/users/:id",status_code="200"} 1',
    );
    expect(metricsText).toContain(
      'http_requests_total{method="GET",route="/boom",status_code="500"} 1',
    );
    const ready = await fetch(`${url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(ready.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    expect(((await ready.json()) as { version: string }).version).toBe('1.4.0');
    // Probes and scrapes write no access line and no series.
    expect(sink.lines().filter((l) => l.msg === 'request completed')).toHaveLength(2);
  });

  it('records a thrown error on the span, and an aborted request as 499 once', async () => {
    const { url, sink } = await framework.start();
    await (await fetch(`${url}/boom`)).text();
    const controller = new AbortController();
    const aborted = fetch(`${url}/slow`, { signal: controller.signal });
    await slowRoute.arrived;
    controller.abort();
    await expect(aborted).rejects.toThrow();
    await waitFor(
      () => sink.lines().some((l) => l.msg === 'request completed' && l.path === '/slow'),
      5000,
      'the aborted request ended',
    );
    // The handler finishes after its client went away: nothing more is recorded for it.
    slowRoute.release();
    await new Promise<void>((resolve) => setImmediate(resolve));

    const spans = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER);
    const boom = spans.find((s) => s.name === 'GET /boom');
    expect(boom?.attributes).toMatchObject({
      'http.response.status_code': 500,
      'error.type': 'Error',
    });
    expect(boom?.events.some((e) => e.name === 'exception')).toBe(true);
    const slow = spans.filter((s) => s.name === 'GET /slow');
    expect(slow).toHaveLength(1);
    expect(slow[0]?.attributes['error.type']).toBe('aborted');

    const access = sink.lines().filter((l) => l.msg === 'request completed' && l.path === '/slow');
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({ route: '/slow', statusCode: 499 });
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toContain('http_requests_total{method="GET",route="/slow",status_code="499"} 1');
    expect(text).not.toMatch(/route="\/slow",status_code="200"/);
    expect(text).toMatch(/^http_requests_in_flight 0$/m);
  });

  it('leaves one error line per failed request, with err, ids, route and status, and the access line at error', async () => {
    const { url, sink } = await framework.start();
    const response = await fetch(`${url}/declined`, { headers: { 'x-request-id': 'req-err' } });
    expect(response.status).toBe(500);
    await waitFor(
      () => sink.lines().some((l) => l.msg === 'request completed'),
      5000,
      'the access line',
    );
    const span = exporter
      .getFinishedSpans()
      .find((s) => s.kind === SpanKind.SERVER && s.name === 'GET /declined');
    const failures = sink.lines().filter((l) => l.err !== undefined);
    expect(failures).toHaveLength(1);
    const [failure] = failures as [Record<string, unknown> & { err: Record<string, string> }];
    expect(failure).toMatchObject({
      level: 'error',
      msg: 'request failed',
      reqId: 'req-err',
      trace_id: span?.spanContext().traceId,
      span_id: span?.spanContext().spanId,
      method: 'GET',
      route: '/declined',
      statusCode: 500,
    });
    expect(failure.err).toMatchObject({ type: 'PaymentDeclined', message: 'card declined' });
    expect(failure.err.stack).toContain('card declined');
    // One name for the error's type in the log line, the span and its exception event.
    expect(span?.attributes['error.type']).toBe('PaymentDeclined');
    const exception = span?.events.find((e) => e.name === 'exception');
    expect(exception?.attributes?.['exception.type']).toBe('PaymentDeclined');
    const access = sink.lines().find((l) => l.msg === 'request completed');
    expect(access).toMatchObject({ level: 'error', statusCode: 500, route: '/declined' });
    expect(sink.lines().filter((l) => l.level === 'error')).toHaveLength(2);
  });

  it('calls onError once per failure, with the request, route and ids; a throwing onError is reported once', async () => {
    const calls: {
      message: string;
      route?: string;
      reqId?: string;
      traceId?: string;
      status: number;
    }[] = [];
    const { url, sink } = await framework.start({
      onError: (err, info) => {
        calls.push({
          message: (err as Error).message,
          route: info.route,
          reqId: info.reqId,
          traceId: info.traceId,
          status: info.statusCode,
        });
        throw new Error('reporter down');
      },
    });
    await (await fetch(`${url}/declined`, { headers: { 'x-request-id': 'on-err-1' } })).text();
    await (await fetch(`${url}/boom`, { headers: { 'x-request-id': 'on-err-2' } })).text();
    await (await fetch(`${url}/users/1`)).text();
    await waitFor(() => calls.length === 2, 5000, 'two onError calls');
    expect(calls.map((c) => [c.message, c.route, c.reqId, c.status])).toEqual([
      ['card declined', '/declined', 'on-err-1', 500],
      ['boom', '/boom', 'on-err-2', 500],
    ]);
    expect(calls[0]?.traceId).toMatch(/^[0-9a-f]{32}$/);
    await waitFor(
      () => sink.lines().filter((l) => l.msg === 'request completed').length === 3,
      5000,
      'the access lines',
    );
    const reported = sink.lines().filter((l) => String(l.msg).startsWith('obskit.onError threw'));
    expect(reported).toHaveLength(1);
    expect(reported[0]?.level).toBe('warn');
  });

  it('writes no error line and calls no onError for a handler error that ends in a 4xx', async () => {
    const calls: unknown[] = [];
    const { url, sink } = await framework.start({ onError: (err) => void calls.push(err) });
    expect((await fetch(`${url}/bad`)).status).toBe(400);
    expect((await fetch(`${url}/missing`)).status).toBe(404);
    expect((await fetch(`${url}/valid`)).status).toBe(400);
    await (await fetch(`${url}/boom`)).text();
    // The 5xx after them is the one failure: its error line and onError mark the end.
    await waitFor(() => calls.length === 1, 5000, 'onError for the 5xx');
    await waitFor(
      () => sink.lines().filter((l) => l.msg === 'request completed').length === 4,
      5000,
      'the access lines',
    );
    expect(calls.map((e) => (e as Error).message)).toEqual(['boom']);
    const failed = sink.lines().filter((l) => l.msg === 'request failed');
    expect(failed.map((l) => l.route)).toEqual(['/boom']);
    const access = sink.lines().filter((l) => l.msg === 'request completed');
    expect(access.map((l) => [l.route, l.statusCode, l.level])).toEqual([
      ['/bad', 400, 'info'],
      ['/missing', 404, 'info'],
      ['/valid', 400, 'info'],
      ['/boom', 500, 'error'],
    ]);
  });

  it('sets the access line level with customLogLevel, and skips requests ignore names', async () => {
    const { url, sink } = await framework.start({
      accessLog: {
        customLogLevel: (_req, res) => (res.statusCode === 404 ? 'warn' : 'info'),
        ignore: (req) => req.headers['x-quiet'] === '1',
      },
    });
    await (await fetch(`${url}/nowhere`)).text();
    await (await fetch(`${url}/users/1`, { headers: { 'x-quiet': '1' } })).text();
    await (await fetch(`${url}/users/2`)).text();
    await waitFor(
      () => sink.lines().filter((l) => l.msg === 'request completed').length === 2,
      5000,
      'two access lines',
    );
    // The requests ran one after the other: a line for the quiet one would be in already.
    const access = sink.lines().filter((l) => l.msg === 'request completed');
    expect(access.map((l) => [l.path, l.level])).toEqual([
      ['/nowhere', 'warn'],
      ['/users/2', 'info'],
    ]);
  });

  it('makes no spans, series or access lines for its own endpoints', async () => {
    const { url, sink } = await framework.start();
    await (await fetch(`${url}/health/live`)).text();
    await (await fetch(`${url}/health/ready`)).text();
    await (await fetch(`${url}/metrics`)).text();
    await (await fetch(`${url}/users/3`)).text();
    await waitFor(
      () => exporter.getFinishedSpans().some((s) => s.name === 'GET /users/:id'),
      5000,
      'the app span',
    );
    // The endpoint requests came first, one after the other: a span of theirs would be in already.
    const names = exporter
      .getFinishedSpans()
      .filter((s) => s.kind === SpanKind.SERVER)
      .map((s) => s.name);
    expect(names).toEqual(['GET /users/:id']);
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).not.toMatch(/route="\/(health|metrics)/);
    expect(
      sink
        .lines()
        .filter((l) => l.msg === 'request completed')
        .map((l) => l.path),
    ).toEqual(['/users/3']);
  });

  it('gives requests the framework rejects itself an id, an access line and a count', async () => {
    const { url, sink } = await framework.start();
    const bad = await rawRequest(url, 'GET /users/%E0%A4%A HTTP/1.1');
    expect(bad.status).toBe(400);
    expect(bad.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(
      () => sink.lines().some((l) => l.msg === 'request completed' && l.statusCode === 400),
      5000,
      'the access line of the rejected request',
    );
    const line = sink.lines().find((l) => l.msg === 'request completed' && l.statusCode === 400);
    expect(line).toMatchObject({ reqId: bad.headers['x-request-id'], path: '/users/%E0%A4%A' });
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toMatch(
      /http_requests_total\{method="GET",route="(__unmatched__|\/users\/:id)",status_code="400"\} 1/,
    );
  });

  it('logs and traces the path of an absolute-form target, never the host the client chose', async () => {
    const { url, sink } = await framework.start();
    const response = await rawRequest(url, 'GET http://evil.example/users/9?x=1 HTTP/1.1');
    expect(response.headers['x-request-id']).toBeDefined();
    await waitFor(
      () => sink.lines().some((l) => l.msg === 'request completed'),
      5000,
      'the access line',
    );
    const line = sink.lines().find((l) => l.msg === 'request completed');
    expect(line?.path).toBe('/users/9');
    expect(JSON.stringify(sink.lines())).not.toContain('evil.example');
    await waitFor(
      () => exporter.getFinishedSpans().some((s) => s.kind === SpanKind.SERVER),
      5000,
      'the span',
    );
    const span = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER);
    expect(span?.attributes['url.path']).toBe('/users/9');
    expect(JSON.stringify(span?.attributes)).not.toContain('evil.example');
  });

  it('answers other methods on its endpoint paths as an unknown route, with an id and no line', async () => {
    const { url, sink } = await framework.start();
    const response = await fetch(`${url}/metrics`, { method: 'POST' });
    expect(response.status).toBe(404);
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    await fetch(`${url}/users/1`);
    await waitFor(
      () => sink.lines().some((l) => l.msg === 'request completed' && l.route === '/users/:id'),
      5000,
      'the access line of the request after it',
    );
    // obskit's endpoint paths are its own whatever the method: no line, not counted.
    expect(sink.lines().filter((l) => l.path === '/metrics')).toHaveLength(0);
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).not.toContain('method="POST"');
  });

  it('shows the health checks on /metrics (one registry for metrics and health)', async () => {
    const { url } = await framework.start({
      health: {
        shutdown: false,
        checks: {
          database: () => true,
          cache: {
            critical: false,
            check: () => {
              throw new Error('cache down');
            },
          },
        },
      },
    });
    const ready = await fetch(`${url}/health/ready`);
    expect(((await ready.json()) as { status: string }).status).toBe('degraded');
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toContain('health_check_status{check="database"} 1');
    expect(text).toContain('health_check_status{check="cache"} 0');
    expect(text).toMatch(/health_check_duration_seconds_count\{check="database"\} 1/);
    expect(text).toContain('http_requests_in_flight');
    // Lines the log destinations dropped while standard output took nothing.
    expect(text).toMatch(/^log_lines_dropped_total 0$/m);
  });

  it('turns sections off', async () => {
    const { url } = await framework.start({ metrics: false, health: false, requestId: false });
    expect((await fetch(`${url}/metrics`)).status).toBe(404);
    expect((await fetch(`${url}/health/ready`)).status).toBe(404);
    expect((await fetch(`${url}/users/1`)).headers.get('x-request-id')).toBeNull();
  });
});

describe('requests Fastify rejects before any hook', () => {
  it('an overlong parameter (414) gets an id, an access line and a count', async () => {
    const { url, sink } = await frameworks[0]!.start();
    const response = await fetch(`${url}/users/${'a'.repeat(200)}`);
    expect(response.status).toBe(414);
    expect(response.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(
      () => sink.lines().some((l) => l.msg === 'request completed' && l.statusCode === 414),
      5000,
      'the access line',
    );
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toContain(
      'http_requests_total{method="GET",route="__unmatched__",status_code="414"} 1',
    );
  });
});

describe('options', () => {
  it('require a service', () => {
    expect(() => expressObskit({} as ObskitOptions)).toThrow(
      'OBSKIT_ERR_INVALID_OPTION: obskit.service must be a non-empty string',
    );
  });
});
