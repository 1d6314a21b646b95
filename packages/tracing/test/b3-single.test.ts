// OTEL_PROPAGATORS=b3: the single `b3` header in and out, on both frameworks, and nothing else
// (the W3C headers only when they are configured too; see b3.test.ts for b3multi).
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { listen } from '@obskit/test-support';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { tracing as expressTracing } from '../src/express.js';
import { tracing as fastifyTracing } from '../src/fastify.js';
import { startTracing, type TracingHandle } from '../src/index.js';

let handle: TracingHandle;
beforeAll(() => {
  vi.stubEnv('OTEL_PROPAGATORS', 'b3');
  handle = startTracing({ exporter: 'none', logger: { warn: () => undefined } });
});
afterAll(async () => {
  vi.unstubAllEnvs();
  await handle.shutdown();
});
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

const TRACE = '463ac35c9f6413ad48485a3953bb6124';
const SPAN = 'a2fb4a1d1a96d312';

async function downstream(): Promise<{ url: string; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const running = await listen(
    createServer((req, res) => {
      seen.push(req.headers);
      res.end('ok');
    }),
  );
  closers.push(running.close);
  return { url: running.url, seen };
}

async function service(framework: string, target: string): Promise<string> {
  if (framework === 'fastify') {
    const app = Fastify();
    await app.register(fastifyTracing);
    app.get('/call', async () => (await fetch(target)).text());
    await app.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => app.close());
    return `http://127.0.0.1:${(app.server.address() as { port: number }).port}/call`;
  }
  const app = express();
  app.use(expressTracing());
  app.get('/call', async (_req, res) => {
    res.send(await (await fetch(target)).text());
  });
  const running = await listen(app);
  closers.push(running.close);
  return `${running.url}/call`;
}

describe.each(['fastify', 'express'])('single-header B3 on %s', (framework) => {
  it('continues an incoming b3 trace and sends one b3 header out, no x-b3-* and no traceparent', async () => {
    const down = await downstream();
    const url = await service(framework, down.url);
    await (await fetch(url, { headers: { b3: `${TRACE}-${SPAN}-1` } })).text();
    const [seen] = down.seen;
    const [trace, span, sampled] = String(seen?.b3).split('-');
    expect(trace).toBe(TRACE);
    expect(span).toMatch(/^[0-9a-f]{16}$/);
    expect(span).not.toBe(SPAN);
    expect(sampled).toBe('1');
    expect(Object.keys(seen ?? {}).filter((h) => h.startsWith('x-b3-'))).toEqual([]);
    expect(seen?.traceparent).toBeUndefined();
  });

  it('starts a new trace for a malformed b3 header', async () => {
    const down = await downstream();
    const url = await service(framework, down.url);
    await (await fetch(url, { headers: { b3: 'not-a-b3-header' } })).text();
    const [trace] = String(down.seen[0]?.b3).split('-');
    expect(trace).toMatch(/^[0-9a-f]{32}$/);
    expect(trace).not.toBe(TRACE);
  });
});
