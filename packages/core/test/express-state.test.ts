import { createServer } from 'node:http';
import { listen } from '@obskit/test-support';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EXPRESS_SHAPES_UNIQUE,
  idFollowsContext,
  keepStateOffExpressObjects,
  onResponseDone,
  peekRequestContext,
  requestContextOf,
  setResponseHeader,
} from '../src/index.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

interface Seen {
  ownSymbols: string[];
  ownId: boolean;
  id: unknown;
  contextId: unknown;
  resOwnSymbols: string[];
  done: string[];
}

const obskitSymbols = (o: object) =>
  Object.getOwnPropertySymbols(o)
    .map((s) => s.description ?? '')
    .filter((d) => d.startsWith('obskit.'));

describe('keepStateOffExpressObjects', () => {
  it('keeps the request context, req.id and completion callbacks off Express objects where that pays', async () => {
    // V8 before 13 (Node 20, 22) gives each Express request its own hidden class; V8 13 does not.
    expect(EXPRESS_SHAPES_UNIQUE).toBe(Number(process.versions.v8.split('.')[0]) < 13);
    keepStateOffExpressObjects(express.request, { id: true });
    keepStateOffExpressObjects(express.request, { id: true }); // idempotent
    const seen: Seen[] = [];
    const app = express();
    app.use((req, res, next) => {
      const context = requestContextOf(req);
      const id = req.get('x-test-id') ?? '';
      // As the adapters do: the context's id, and `req.id` only where it does not follow it.
      context.reqId = id;
      if (!idFollowsContext(req)) (req as unknown as { id: string }).id = id;
      const entry: Seen = {
        ownSymbols: [],
        ownId: false,
        id: undefined,
        contextId: undefined,
        resOwnSymbols: [],
        done: [],
      };
      onResponseDone(req, res, (outcome) => entry.done.push(`first ${outcome}`));
      onResponseDone(req, res, (outcome) => entry.done.push(`second ${outcome}`));
      // Read back later, after other requests interleaved.
      setTimeout(() => {
        entry.ownSymbols = obskitSymbols(req);
        entry.ownId = Object.prototype.hasOwnProperty.call(req, 'id');
        entry.id = (req as unknown as { id: unknown }).id;
        entry.contextId = context.reqId;
        entry.resOwnSymbols = obskitSymbols(res);
        seen.push(entry);
        next();
      }, 5);
    });
    app.get('/', (_req, res) => {
      res.send('ok');
    });
    const { url, close } = await listen(app);
    closers.push(close);
    const ids = Array.from({ length: 20 }, (_, i) => `id-${i}`);
    await Promise.all(
      ids.map(async (id) => (await fetch(url, { headers: { 'x-test-id': id } })).text()),
    );
    expect(seen).toHaveLength(20);
    expect(seen.map((s) => s.id).sort()).toEqual([...ids].sort());
    for (const s of seen) {
      expect(s.contextId).toBe(s.id);
      // Where shapes are shared, plain properties (cheaper there); never anything on `res`.
      expect(s.ownId).toBe(!EXPRESS_SHAPES_UNIQUE);
      expect(s.ownSymbols).toEqual(EXPRESS_SHAPES_UNIQUE ? [] : ['obskit.core.requestContext']);
      expect(s.resOwnSymbols).toEqual([]);
      expect(s.done).toEqual(['first finished', 'second finished']);
    }
  });

  it('sets response headers through the prototype chain, patches on it included', async () => {
    keepStateOffExpressObjects(express.request, { id: true });
    const app = express();
    const seen: string[] = [];
    const original = (app.response as { setHeader: (n: string, v: string) => unknown }).setHeader;
    (app.response as { setHeader: unknown }).setHeader = function (
      this: unknown,
      name: string,
      value: string,
    ) {
      seen.push(name);
      return original.call(this, name, value);
    };
    app.use((req, res, next) => {
      setResponseHeader(req, res, 'x-one', '1');
      next();
    });
    app.get('/', (_req, res) => {
      setResponseHeader(_req, res, 'x-two', '2');
      res.send('ok');
    });
    const { url, close } = await listen(app);
    closers.push(close);
    for (let i = 0; i < 3; i++) {
      const response = await fetch(url);
      expect(response.headers.get('x-one')).toBe('1');
      expect(response.headers.get('x-two')).toBe('2');
    }
    expect(seen.filter((n) => n.startsWith('x-'))).toEqual(
      Array(3).fill(['x-one', 'x-two']).flat(),
    );

    const plain = createServer((req, res) => {
      setResponseHeader(req, res, 'x-plain', 'p');
      res.end('ok');
    });
    const served = await listen(plain);
    closers.push(served.close);
    expect((await fetch(served.url)).headers.get('x-plain')).toBe('p');
  });

  it('tells whether req.id follows the context, by prototype', () => {
    keepStateOffExpressObjects(express.request, { id: true });
    const app = express();
    const expressReq = Object.create(app.request as object) as object;
    const plainReq = {};
    // Alternating prototypes: the kept answer is for the last prototype only.
    for (let i = 0; i < 3; i++) {
      expect(idFollowsContext(expressReq)).toBe(EXPRESS_SHAPES_UNIQUE);
      expect(idFollowsContext(plainReq)).toBe(false);
      expect(idFollowsContext(Object.create(null) as object)).toBe(false);
    }
  });

  it.runIf(EXPRESS_SHAPES_UNIQUE)('sets the context id when req.id is assigned', async () => {
    keepStateOffExpressObjects(express.request, { id: true });
    const app = express();
    app.get('/', (req, res) => {
      (req as unknown as { id: string }).id = 'assigned';
      res.json({ context: peekRequestContext(req)?.reqId ?? null });
    });
    const { url, close } = await listen(app);
    closers.push(close);
    expect(await (await fetch(url)).json()).toEqual({ context: 'assigned' });
  });

  it('leaves objects of other servers with plain properties', async () => {
    let own: string[] = [];
    let found: unknown;
    const { url, close } = await listen(
      createServer((req, res) => {
        requestContextOf(req).reqId = 'plain';
        own = obskitSymbols(req);
        found = peekRequestContext(req)?.reqId;
        res.end('ok');
      }),
    );
    closers.push(close);
    await (await fetch(url)).text();
    expect(found).toBe('plain');
    expect(own).toEqual(['obskit.core.requestContext']);
  });
});
