// LOG_FORMAT=ecs on both frameworks: every line an Elastic Common Schema document, checked field
// by field, with the request and trace ids in their ECS fields.
import { spawnSync } from 'node:child_process';
import { createLogger, type Logger } from '@obskit/core';
import { listen, logSink, type LogSink } from '@obskit/test-support';
import { getTracingHandle } from '@obskit/tracing';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { obskit as expressObskit } from '../src/express.js';
import { obskit as fastifyObskit, obskitServerOptions } from '../src/fastify.js';

const exporter = new InMemorySpanExporter();
const tracing = { exporter, processor: 'simple' as const };
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
afterAll(async () => {
  await getTracingHandle()?.shutdown();
});
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
  exporter.reset();
});

const ecsLogger = (sink: LogSink) =>
  createLogger({
    service: 'orders',
    version: '1.4.0',
    env: 'production',
    ecs: true,
    destination: sink.stream,
  });

const frameworks = [
  {
    name: 'fastify',
    async start(): Promise<{ url: string; sink: LogSink }> {
      const sink = logSink();
      const logger = ecsLogger(sink);
      const options = { service: 'orders', logger, tracing, health: { shutdown: false as const } };
      const app = Fastify(obskitServerOptions(options));
      await app.register(fastifyObskit, options);
      app.get('/orders/:id', async (request) => {
        (request.log as Logger).info({ orderId: 7 }, 'loading order');
        return { ok: true };
      });
      app.get('/boom', async () => {
        throw new TypeError('no such order');
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      closers.push(() => app.close());
      return { url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`, sink };
    },
  },
  {
    name: 'express',
    async start(): Promise<{ url: string; sink: LogSink }> {
      const sink = logSink();
      const logger = ecsLogger(sink);
      const o = expressObskit({ service: 'orders', logger, tracing, health: { shutdown: false } });
      const app = express();
      app.use(o);
      app.get('/orders/:id', (req, res) => {
        (req as unknown as { log: Logger }).log.info({ orderId: 7 }, 'loading order');
        res.json({ ok: true });
      });
      app.get('/boom', () => {
        throw new TypeError('no such order');
      });
      app.use(o.errors());
      const running = await listen(app);
      closers.push(running.close);
      return { url: running.url, sink };
    },
  },
];

const OBSKIT_NAMES = ['reqId', 'trace_id', 'span_id', 'trace_flags', 'time', 'level', 'msg'];

describe.each(frameworks)('ECS lines on $name', ({ start }) => {
  it('writes the access, application and error lines in ECS fields', async () => {
    const { url, sink } = await start();
    const headers = {
      'x-request-id': 'ecs-req-1',
      traceparent: `00-${TRACE}-00f067aa0ba902b7-01`,
    };
    expect((await fetch(`${url}/orders/7`, { headers })).status).toBe(200);
    expect((await fetch(`${url}/boom`, { headers: { 'x-request-id': 'ecs-req-2' } })).status).toBe(
      500,
    );
    const lines = sink.lines();
    for (const line of lines) {
      expect(line['@timestamp'], JSON.stringify(line)).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/);
      expect(typeof line['log.level']).toBe('string');
      expect(typeof line.message).toBe('string');
      expect(line['ecs.version']).toMatch(/^\d+\.\d+\.\d+$/);
      expect(line).toMatchObject({
        'service.name': 'orders',
        'service.version': '1.4.0',
        'service.environment': 'production',
      });
      for (const name of OBSKIT_NAMES)
        expect(line, `${name} in ${JSON.stringify(line)}`).not.toHaveProperty(name);
    }
    const app = lines.find((l) => l.message === 'loading order');
    expect(app).toMatchObject({
      'log.level': 'info',
      'http.request.id': 'ecs-req-1',
      'trace.id': TRACE,
      orderId: 7,
    });
    expect(app?.['span.id']).toMatch(/^[0-9a-f]{16}$/);
    const access = lines.filter((l) => l.message === 'request completed');
    expect(access[0]).toMatchObject({
      'log.level': 'info',
      'http.request.id': 'ecs-req-1',
      'http.request.method': 'GET',
      'http.route': '/orders/:id',
      'http.response.status_code': 200,
      'trace.id': TRACE,
    });
    expect(Number.isInteger(access[0]?.['event.duration'])).toBe(true);
    expect(access[0]?.['event.duration'] as number).toBeGreaterThan(0);
    const failed = lines.find((l) => l.message === 'request failed');
    expect(failed).toMatchObject({
      'log.level': 'error',
      'http.request.id': 'ecs-req-2',
      error: { type: 'TypeError', message: 'no such order' },
    });
    expect((failed?.error as { stack_trace?: string }).stack_trace).toContain('TypeError');
    expect(access[1]).toMatchObject({ 'log.level': 'error', 'http.response.status_code': 500 });
  });
});

describe('LOG_FORMAT', () => {
  const run = (format: string) =>
    spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import { createLogger } from '@obskit/core'; createLogger({ service: 's' }).info('hi');",
      ],
      {
        cwd: new URL('..', import.meta.url).pathname,
        env: { ...process.env, LOG_FORMAT: format },
        encoding: 'utf8',
      },
    );

  it('ecs from the environment, and a clear error for an unknown format', () => {
    const ecs = run('ecs');
    expect(ecs.status).toBe(0);
    expect(JSON.parse(ecs.stdout.trim())).toMatchObject({ 'log.level': 'info', message: 'hi' });
    const bad = run('xml');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toContain(
      'OBSKIT_ERR_INVALID_OPTION: LOG_FORMAT must be json, pretty or ecs, got "xml"',
    );
  });
});
