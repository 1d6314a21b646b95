// The server spans keep the app's endpoint rule: no span for obskit's own endpoints (registered
// with the app's pipeline by the features that serve them), whatever the method, unless
// `includeObskitEndpoints`; then the span is named by the endpoint's path.
import { addExpressEndpoint, fastifyPipeline } from '@obskit/core/internal';
import { listen, quietLogger, waitFor } from '@obskit/test-support';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { tracing as expressTracing } from '../src/express.js';
import { tracing as fastifyTracing } from '../src/fastify.js';
import { startTracing, type TracingHandle } from '../src/index.js';

const exporter = new InMemorySpanExporter();
let handle: TracingHandle;
beforeAll(() => {
  handle = startTracing({ exporter, processor: 'simple', logger: quietLogger() });
});
afterAll(async () => {
  await handle.shutdown();
});
beforeEach(() => exporter.reset());
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

const frameworks = [
  {
    name: 'fastify',
    async start(include: boolean): Promise<string> {
      const app = Fastify();
      await app.register(fastifyTracing, { includeObskitEndpoints: include });
      fastifyPipeline(app).addEndpoint('/health/live');
      app.all('/health/live', async () => 'alive');
      app.get('/orders', async () => 'orders');
      await app.listen({ port: 0, host: '127.0.0.1' });
      closers.push(() => app.close());
      return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    },
  },
  {
    name: 'express',
    async start(include: boolean): Promise<string> {
      // An Express feature used alone: the endpoints of the features used alone in the process.
      addExpressEndpoint('/health/live');
      const app = express();
      app.use(expressTracing({ includeObskitEndpoints: include }));
      app.all('/health/live', (_req, res) => {
        res.send('alive');
      });
      app.get('/orders', (_req, res) => {
        res.send('orders');
      });
      const running = await listen(app);
      closers.push(running.close);
      return running.url;
    },
  },
];

async function spansFor(url: string): Promise<string[]> {
  await (await fetch(`${url}/health/live`)).text();
  await (await fetch(`${url}/health/live`, { method: 'POST' })).text();
  await (await fetch(`${url}/orders`)).text();
  await waitFor(
    () => exporter.getFinishedSpans().some((s) => s.name === 'GET /orders'),
    5000,
    'the span of /orders',
  );
  return exporter
    .getFinishedSpans()
    .filter((s) => s.kind === SpanKind.SERVER)
    .map((s) => s.name)
    .sort();
}

describe.each(frameworks)('server spans on $name', (framework) => {
  it("make none for the app's own endpoints, whatever the method", async () => {
    expect(await spansFor(await framework.start(false))).toEqual(['GET /orders']);
  });

  it('name them by their path with includeObskitEndpoints', async () => {
    expect(await spansFor(await framework.start(true))).toEqual([
      'GET /health/live',
      'GET /orders',
      'POST /health/live',
    ]);
  });
});
