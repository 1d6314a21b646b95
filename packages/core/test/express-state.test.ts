import { createServer } from 'node:http';
import { listen } from '@obskit/test-support';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import {
  EXPRESS_SHAPES_UNIQUE,
  keepStateOffExpressObjects,
  onResponseDone,
  peekRequestContext,
  requestContextOf,
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
      // As the adapters do: the context's id, and `req.id` only where it is not the same.
      context.reqId = id;
      if ((req as unknown as { id?: string }).id !== id) (req as unknown as { id: string }).id = id;
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
