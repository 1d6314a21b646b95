// One rule for obskit's own endpoints, per app: the same answer from metrics, spans and access
// lines, on both frameworks, whatever the method; `includeObskitEndpoints` turns all three on.
import { createLogger } from '@obskit/core';
import { listen, logSink, waitFor, type LogSink } from '@obskit/test-support';
import { getTracingHandle } from '@obskit/tracing';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { obskit as expressObskit } from '../src/express.js';
import { obskitFastify } from '../src/fastify.js';
import type { ObskitOptions } from '../src/options.js';

const exporter = new InMemorySpanExporter();
afterAll(async () => {
  await getTracingHandle()?.shutdown();
});
beforeEach(() => exporter.reset());
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

interface Running {
  url: string;
  sink: LogSink;
}

type Start = (options: Partial<ObskitOptions>) => Promise<Running>;

// Every app has its own `/own` route; `/health/live` is the app's own route when health is off.
const frameworks: { name: string; start: Start }[] = [
  {
    name: 'fastify',
    async start(extra) {
      const sink = logSink();
      const logger = createLogger({ service: 'shop', destination: sink.stream });
      const o = obskitFastify({
        service: 'shop',
        logger,
        tracing: { exporter, processor: 'simple' },
        health: { shutdown: false },
        ...extra,
      });
      const app = Fastify(o.serverOptions);
      await app.register(o.plugin);
      app.get('/own', async () => ({ own: true }));
      if (extra.health === false) app.get('/health/live', async () => ({ mine: true }));
      await app.listen({ port: 0, host: '127.0.0.1' });
      closers.push(() => app.close());
      return { url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`, sink };
    },
  },
  {
    name: 'express',
    async start(extra) {
      const sink = logSink();
      const logger = createLogger({ service: 'shop', destination: sink.stream });
      const o = expressObskit({
        service: 'shop',
        logger,
        tracing: { exporter, processor: 'simple' },
        health: { shutdown: false },
        ...extra,
      });
      const app = express();
      app.use(o);
      app.get('/own', (_req, res) => {
        res.json({ own: true });
      });
      if (extra.health === false) {
        app.get('/health/live', (_req, res) => {
          res.json({ mine: true });
        });
      }
      const running = await listen(app);
      o.attach(running.server);
      closers.push(running.close);
      return { url: running.url, sink };
    },
  },
];

interface Seen {
  counted: string[];
  spans: string[];
  lines: string[];
}

// Sends `requests`, then one marker request to `/own`, and reads what each feature recorded once
// the marker's span and access line are there (the marker is the last request to complete).
async function seen(running: Running, requests: [string, string][]): Promise<Seen> {
  exporter.reset();
  for (const [method, path] of requests) {
    const response = await fetch(`${running.url}${path}`, { method });
    await response.arrayBuffer();
  }
  await (await fetch(`${running.url}/own`)).arrayBuffer();
  await waitFor(
    () =>
      exporter.getFinishedSpans().some((s) => s.name === 'GET /own') &&
      running.sink.lines().some((l) => l.msg === 'request completed' && l.route === '/own'),
    5000,
    'the marker request',
  );
  const text = await (await fetch(`${running.url}/metrics`)).text();
  const counted = text
    .split('\n')
    .filter((l) => l.startsWith('http_requests_total{'))
    .map((l) => {
      const method = /method="([^"]*)"/.exec(l)?.[1];
      const route = /route="([^"]*)"/.exec(l)?.[1];
      return `${method} ${route}`;
    })
    .filter((s) => s !== 'GET /own')
    .sort();
  const spans = exporter
    .getFinishedSpans()
    .filter((s) => s.kind === SpanKind.SERVER && s.name !== 'GET /own')
    .map((s) => s.name);
  const lines = running.sink
    .lines()
    .filter((l) => l.msg === 'request completed' && l.route !== '/own')
    .map((l) => `${String(l.method)} ${String(l.route)}`);
  // Each request (method and route) once: the scrape that reads the counters may itself be
  // traced and logged by then.
  const once = (list: string[]) => [...new Set(list)].sort();
  return { counted, spans: once(spans), lines: once(lines) };
}

const endpointRequests: [string, string][] = [
  ['GET', '/metrics'],
  ['HEAD', '/metrics'],
  ['POST', '/metrics'],
  ['GET', '/health/live'],
  ['GET', '/health/ready'],
  ['DELETE', '/health/ready'],
  ['GET', '/health/startup?probe=1'],
];

describe.each(frameworks)("obskit's own endpoints on $name", (framework) => {
  it('are left out of metrics, spans and access lines alike, whatever the method', async () => {
    const running = await framework.start({});
    const result = await seen(running, endpointRequests);
    expect(result).toEqual({ counted: [], spans: [], lines: [] });
  });

  it('are recorded by all three under their path with includeObskitEndpoints', async () => {
    const running = await framework.start({ includeObskitEndpoints: true });
    const result = await seen(running, endpointRequests);
    const expected = [
      'DELETE /health/ready',
      'GET /health/live',
      'GET /health/ready',
      'GET /health/startup',
      'GET /metrics',
      'HEAD /metrics',
      'POST /metrics',
    ];
    expect(result.lines).toEqual(expected);
    expect(result.spans).toEqual(expected);
    expect(result.counted).toEqual(expected);
  });

  it("are the app's own: another app's route on a probe path is recorded as usual", async () => {
    // One app in the process serves the probes; a second app without obskit's health has a
    // `/health/live` of its own.
    const withHealth = await framework.start({});
    const withoutHealth = await framework.start({ health: false });
    const answer = await fetch(`${withoutHealth.url}/health/live`);
    expect(await answer.json()).toEqual({ mine: true });
    const result = await seen(withoutHealth, [['GET', '/health/live']]);
    expect(result).toEqual({
      counted: ['GET /health/live'],
      spans: ['GET /health/live'],
      lines: ['GET /health/live'],
    });
    // And the first app still leaves its own probes out.
    const first = await seen(withHealth, [['GET', '/health/live']]);
    expect(first).toEqual({ counted: [], spans: [], lines: [] });
  });
});
