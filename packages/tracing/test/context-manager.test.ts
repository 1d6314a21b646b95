// obskit's shared context manager is used only when the API took it: with another one
// registered first, tracing says so once and request spans still reach the handler's context.
import { getRequestContext } from '@obskit/core';
import { listen, waitFor } from '@obskit/test-support';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tracing as expressTracing } from '../src/express.js';
import { tracing as fastifyTracing } from '../src/fastify.js';
import { sharedContextActive, startTracing, type TracingHandle } from '../src/index.js';

const exporter = new InMemorySpanExporter();
const warnings: string[] = [];
let handle: TracingHandle;
beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  handle = startTracing({
    exporter,
    processor: 'simple',
    logger: { warn: (_fields: object, msg: string) => void warnings.push(msg) },
  });
});
afterAll(async () => {
  await handle.shutdown();
});
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

interface Seen {
  active: string | undefined;
  logged: string | undefined;
}

async function serve(framework: string, seen: Seen[]): Promise<string> {
  const look = () =>
    seen.push({
      active: trace.getActiveSpan()?.spanContext().spanId,
      logged: getRequestContext()?.spanId,
    });
  if (framework === 'fastify') {
    const app = Fastify();
    await app.register(fastifyTracing);
    app.get('/x', async () => {
      await new Promise((r) => setImmediate(r));
      look();
      return 'ok';
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => app.close());
    return `http://127.0.0.1:${(app.server.address() as { port: number }).port}/x`;
  }
  const app = express();
  app.use(expressTracing());
  app.get('/x', (_req, res) => {
    setImmediate(() => {
      look();
      res.send('ok');
    });
  });
  const running = await listen(app);
  closers.push(running.close);
  return `${running.url}/x`;
}

describe('another context manager registered first', () => {
  it('is noticed: said once at warn, and the shared manager is not assumed', () => {
    expect(sharedContextActive()).toBe(false);
    expect(
      warnings.filter((w) => w.includes('another OpenTelemetry context manager')),
    ).toHaveLength(1);
  });

  it.each(['fastify', 'express'])(
    'on %s, the handler still sees the server span, in the active context and in its log ids',
    async (framework) => {
      exporter.reset();
      const seen: Seen[] = [];
      const url = await serve(framework, seen);
      expect(await (await fetch(url)).text()).toBe('ok');
      await waitFor(() => exporter.getFinishedSpans().length > 0, 5000, 'the server span');
      const server = exporter.getFinishedSpans().find((s) => s.name === 'GET /x');
      expect(server).toBeDefined();
      expect(seen).toEqual([
        { active: server?.spanContext().spanId, logged: server?.spanContext().spanId },
      ]);
    },
  );
});
