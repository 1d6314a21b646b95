// OTEL_PROPAGATORS=b3multi: B3 headers in, B3 headers out, on both frameworks.
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
  vi.stubEnv('OTEL_PROPAGATORS', 'b3multi,tracecontext');
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

describe.each(['fastify', 'express'])('B3 on %s', (framework) => {
  it('continues an incoming B3 trace and sends B3 and W3C headers out', async () => {
    const down = await downstream();
    const url = await service(framework, down.url);
    await (
      await fetch(url, {
        headers: { 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-sampled': '1' },
      })
    ).text();
    const [seen] = down.seen;
    expect(seen?.['x-b3-traceid']).toBe(TRACE);
    expect(seen?.['x-b3-spanid']).toMatch(/^[0-9a-f]{16}$/);
    expect(seen?.['x-b3-spanid']).not.toBe(SPAN);
    expect(seen?.['x-b3-sampled']).toBe('1');
    expect(String(seen?.traceparent).split('-')[1]).toBe(TRACE);
  });
});
