// The B3 tests' harness (b3.test.ts, b3-single.test.ts): tracing started with the propagators
// of OTEL_PROPAGATORS, a downstream that keeps the headers it receives, and a service on either
// framework whose /call makes one fetch to it.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { listen } from '@obskit/test-support';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, afterEach, beforeAll, vi } from 'vitest';
import { tracing as expressTracing } from '../src/express.js';
import { tracing as fastifyTracing } from '../src/fastify.js';
import { startTracing, type TracingHandle } from '../src/index.js';

export const TRACE = '463ac35c9f6413ad48485a3953bb6124';
export const SPAN = 'a2fb4a1d1a96d312';

/** Registers the file's hooks: tracing with `propagators`, servers closed after each test. */
export function b3Harness(propagators: string) {
  let handle: TracingHandle;
  beforeAll(() => {
    vi.stubEnv('OTEL_PROPAGATORS', propagators);
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

  return { downstream, service };
}
