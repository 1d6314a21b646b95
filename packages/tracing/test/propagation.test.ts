// The cases of the W3C Trace Context test suite (github.com/w3c/trace-context, test/) at its
// first strictness level, written as obskit tests: a service on each framework receives trace
// context, calls a harness with fetch and with node:http, and the harness checks what arrives.
// The suite itself passes against obskit services; see "Trace context conformance" in the README.
import { createServer, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { httpRequestsAnnounced, listen } from '@obskit/test-support';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import express from 'express';
import Fastify from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tracing as expressTracing } from '../src/express.js';
import { tracing as fastifyTracing } from '../src/fastify.js';
import { startTracing, type TracingHandle } from '../src/index.js';

let handle: TracingHandle;
beforeAll(() => {
  handle = startTracing({
    exporter: new InMemorySpanExporter(),
    processor: 'simple',
    logger: { warn: () => undefined },
  });
});
afterAll(async () => {
  await handle.shutdown();
});
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

const TRACE = '12345678901234567890123456789012';
const PARENT = '1234567890123456';
const clients = ['fetch', ...(httpRequestsAnnounced() ? ['http'] : [])] as const;

/** What the harness received from the service's callbacks. */
async function harness(): Promise<{ url: string; seen: IncomingHttpHeaders[] }> {
  const seen: IncomingHttpHeaders[] = [];
  const running = await listen(
    createServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      req.on('end', () => res.end('ok'));
    }),
  );
  closers.push(running.close);
  return { url: running.url, seen };
}

function call(client: string, url: string): Promise<unknown> {
  if (client === 'fetch') {
    return fetch(url, {
      method: 'POST',
      body: '[]',
      headers: { 'content-type': 'application/json' },
    }).then((r) => r.text());
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: 'POST', headers: { 'content-type': 'application/json' } },
      (res) => {
        res.resume();
        res.on('end', resolve);
      },
    );
    req.on('error', reject).end('[]');
  });
}

/** A service that makes `times` callbacks to the harness per request, as the suite asks. */
async function service(framework: string, client: string, target: string): Promise<string> {
  const calls = async (times: number) => {
    for (let i = 0; i < times; i++) await call(client, target);
  };
  if (framework === 'fastify') {
    const app = Fastify();
    await app.register(fastifyTracing);
    app.post('/test', async (request) => {
      await calls(Number((request.query as { times?: string }).times ?? 1));
      return 'ok';
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => app.close());
    return `http://127.0.0.1:${(app.server.address() as { port: number }).port}/test`;
  }
  const app = express();
  app.use(expressTracing());
  app.post('/test', async (req, res) => {
    await calls(Number(req.query.times ?? 1));
    res.send('ok');
  });
  const running = await listen(app);
  closers.push(running.close);
  return `${running.url}/test`;
}

/** Sends raw header lines (repeats and any case), as the suite's harness does. */
function send(url: string, headers: [string, string][], times = 1): Promise<void> {
  return new Promise((resolve, reject) => {
    const raw = [['host', '127.0.0.1'], ['content-type', 'application/json'], ...headers].flat();
    const req = httpRequest(`${url}?times=${times}`, { method: 'POST', headers: raw }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`${res.statusCode} ${body}`)),
      );
    });
    req.on('error', reject).end('[]');
  });
}

const parse = (h: IncomingHttpHeaders) => {
  const [version, traceId, parentId, flags] = String(h.traceparent ?? '').split('-');
  return { version, traceId, parentId, flags, tracestate: h.tracestate };
};

describe.each(['fastify', 'express'])('trace context on %s', (framework) => {
  describe.each(clients)('calling out with %s', (client) => {
    async function run(headers: [string, string][], times = 1) {
      const h = await harness();
      const url = await service(framework, client, h.url);
      await send(url, headers, times);
      return h.seen.map(parse);
    }

    it('inherits a valid traceparent in every callback, with a new parent id each', async () => {
      const seen = await run([['traceparent', `00-${TRACE}-${PARENT}-01`]], 3);
      expect(seen).toHaveLength(3);
      for (const s of seen) {
        expect(s).toMatchObject({ version: '00', traceId: TRACE, flags: '01' });
        expect(s.parentId).toMatch(/^[0-9a-f]{16}$/);
        expect(s.parentId).not.toBe(PARENT);
      }
      expect(new Set(seen.map((s) => s.parentId)).size).toBe(3);
    });

    it('starts one new trace for all callbacks when no traceparent comes', async () => {
      const seen = await run([], 3);
      expect(new Set(seen.map((s) => s.traceId)).size).toBe(1);
      expect(seen[0]?.traceId).toMatch(/^[0-9a-f]{32}$/);
    });

    it('reads the header name in any case, and a future version in the version-00 layout', async () => {
      const [cased] = await run([['TraceParent', `00-${TRACE}-${PARENT}-01`]]);
      expect(cased?.traceId).toBe(TRACE);
      const [future] = await run([
        ['traceparent', `cc-${TRACE}-${PARENT}-01-what-the-future-will-be-like`],
      ]);
      expect(future?.traceId).toBe(TRACE);
      expect(future?.version).toBe('00');
    });

    it.each([
      ['an all-zero trace id', `00-${'0'.repeat(32)}-${PARENT}-01`],
      ['an all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
      ['illegal characters in the trace id', `00-${TRACE.slice(0, 31)}.-${PARENT}-01`],
      ['illegal characters in the flags', `00-${TRACE}-${PARENT}-.0`],
      ['a short parent id', `00-${TRACE}-${PARENT.slice(1)}-01`],
      ['version ff', `ff-${TRACE}-${PARENT}-01`],
      ['trailing data in version 00', `00-${TRACE}-${PARENT}-01-`],
    ])('starts a new trace and drops tracestate for %s', async (_what, value) => {
      const [seen] = await run([
        ['traceparent', value],
        ['tracestate', 'foo=1'],
      ]);
      expect(seen?.traceId).not.toBe(TRACE);
      expect(seen?.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(seen?.tracestate).toBeUndefined();
    });

    it('starts a new trace for a traceparent sent twice', async () => {
      const [seen] = await run([
        ['traceparent', `00-${TRACE}-${PARENT}-01`],
        ['traceparent', `00-${TRACE.replace('1', '9')}-${PARENT}-01`],
      ]);
      expect(seen?.traceId).not.toBe(TRACE);
    });

    it('passes tracestate on, repeated headers joined, with the valid traceparent only', async () => {
      const [seen] = await run([
        ['traceparent', `00-${TRACE}-${PARENT}-00`],
        ['tracestate', 'foo=1'],
        ['tracestate', 'bar=2'],
      ]);
      expect(seen?.flags).toBe('00');
      expect(seen?.tracestate).toBe('foo=1,bar=2');
    });
  });
});
