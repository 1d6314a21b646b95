import { once } from 'node:events';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { listen, sleep } from '@obskit/test-support';
import express from 'express';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  bindEmitterToContext,
  getRequestContext,
  requestContextOf,
  runInRequestContext,
  runWithRequestContext,
} from '../src/internal.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

describe('request context', () => {
  it('is undefined outside a request', () => {
    expect(getRequestContext()).toBeUndefined();
  });

  it('survives await, timers, immediates and stream callbacks', async () => {
    const seen = await runWithRequestContext({ reqId: 'r-1' }, async () => {
      const ids: (string | undefined)[] = [];
      // Timers are what the context must survive here.
      await sleep(5);
      ids.push(getRequestContext()?.reqId);
      await new Promise<void>((resolve) =>
        setTimeout(() => {
          ids.push(getRequestContext()?.reqId);
          resolve();
        }, 1),
      );
      await new Promise<void>((resolve) =>
        setImmediate(() => {
          ids.push(getRequestContext()?.reqId);
          resolve();
        }),
      );
      await pipeline(Readable.from(['a', 'b']), async function* (source) {
        for await (const chunk of source) {
          ids.push(getRequestContext()?.reqId);
          yield chunk;
        }
      });
      return ids;
    });
    expect(seen).toEqual(['r-1', 'r-1', 'r-1', 'r-1', 'r-1']);
    expect(getRequestContext()).toBeUndefined();
  });

  it('binds emitter listeners, and removal by the original listener still works', async () => {
    const stream = new Readable({ read() {} });
    bindEmitterToContext(stream, { reqId: 'bound' });
    const seen: (string | undefined)[] = [];
    const onData = (): void => {
      seen.push(getRequestContext()?.reqId);
    };
    stream.on('data', onData);
    stream.once('end', () => seen.push(`end:${getRequestContext()?.reqId}`));
    const removed = (): void => {
      seen.push('must not run');
    };
    stream.once('data', removed);
    stream.removeListener('data', removed);
    // Emitted from outside any context, as Node's HTTP parser does.
    stream.push('x');
    stream.push(null);
    await once(stream, 'close');
    expect(seen).toEqual(['bound', 'end:bound']);
    expect(stream.listenerCount('data')).toBe(1);
    stream.removeListener('data', onData);
    expect(stream.listenerCount('data')).toBe(0);
  });

  it('gives a raw request one shared context', async () => {
    const app = listen((req, res) => {
      const first = requestContextOf(req);
      runInRequestContext(req, () => {
        runInRequestContext(req, () => {
          res.end(String(getRequestContext() === first && requestContextOf(req) === first));
        });
      });
    });
    const { url, close } = await app;
    closers.push(close);
    expect(await (await fetch(url)).text()).toBe('true');
  });

  it('survives express.json() body parsing and 100 concurrent requests never mix', async () => {
    const app = express();
    app.use((req, _res, next) => {
      requestContextOf(req).reqId = String(req.headers['x-id']);
      runInRequestContext(req, next);
    });
    app.use(express.json());
    app.post('/echo', async (req, res) => {
      const before = getRequestContext()?.reqId;
      // Requests interleave at random across timers: the behaviour under test.
      await sleep(Math.random() * 10);
      await new Promise((resolve) => setTimeout(resolve, 1));
      res.json({
        before,
        after: getRequestContext()?.reqId,
        body: (req.body as { id: string }).id,
      });
    });
    const { url, close } = await listen(app);
    closers.push(close);

    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const id = `req-${i}`;
        const response = await fetch(`${url}/echo`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-id': id },
          body: JSON.stringify({ id }),
        });
        return { id, ...((await response.json()) as Record<string, string>) };
      }),
    );
    for (const r of results) {
      expect(r).toEqual({ id: r.id, before: r.id, after: r.id, body: r.id });
    }
  });

  it('survives Fastify body parsing and async hooks, 100 concurrent requests', async () => {
    const app = Fastify();
    app.addHook('onRequest', (request, _reply, done) => {
      requestContextOf(request.raw).reqId = String(request.headers['x-id']);
      runInRequestContext(request.raw, done);
    });
    const hookSeen = new Map<string, string | undefined>();
    app.addHook('preHandler', async (request) => {
      // Interleaving across timers is the behaviour under test.
      await sleep(1);
      hookSeen.set(String(request.headers['x-id']), getRequestContext()?.reqId);
    });
    app.post('/echo', async (request) => {
      await sleep(Math.random() * 10);
      return { after: getRequestContext()?.reqId, body: (request.body as { id: string }).id };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => app.close());
    const { port } = app.server.address() as { port: number };

    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const id = `req-${i}`;
        const response = await fetch(`http://127.0.0.1:${port}/echo`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-id': id },
          body: JSON.stringify({ id }),
        });
        return { id, ...((await response.json()) as Record<string, string>) };
      }),
    );
    for (const r of results) {
      expect(r).toEqual({ id: r.id, after: r.id, body: r.id });
      expect(hookSeen.get(r.id)).toBe(r.id);
    }
  });
});
