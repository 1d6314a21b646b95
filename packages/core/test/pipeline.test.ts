// The request pipeline: steps at fixed places whatever order they were added in, one record per
// request, one listener set per response telling every end step once, endpoints per pipeline.
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { listen, waitFor } from '@obskit/test-support';
import express from 'express';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import {
  expressMiddleware,
  fastifyPipeline,
  RequestPipeline,
  STEP,
  type PipelineStep,
  type RequestRecord,
} from '../src/internal.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

const raw = {
  raw: (req: IncomingMessage) => req,
  rawReply: (res: ServerResponse) => res,
  routeAtBegin: () => '/r',
};

function recorder(calls: string[], name: string, order: number, route = false): PipelineStep {
  return {
    order,
    route,
    begin: (_req, _res, record) => void calls.push(`begin ${name} ${record.route ?? '-'}`),
    end: (_req, _res, record) => void calls.push(`end ${name} ${record.statusCode}`),
  };
}

describe('RequestPipeline', () => {
  it('runs begin steps in their fixed order and end steps once, through one listener set', async () => {
    const calls: string[] = [];
    const pipeline = new RequestPipeline(raw);
    // Added in the wrong order on purpose.
    pipeline.add(recorder(calls, 'access', STEP.accessLog, true));
    pipeline.add(recorder(calls, 'drain', STEP.drain));
    pipeline.add(recorder(calls, 'metrics', STEP.metrics, true));
    pipeline.add(recorder(calls, 'span', STEP.span));
    pipeline.add(recorder(calls, 'id', STEP.requestId));
    let listeners = -1;
    let record: RequestRecord | undefined;
    const { url, close } = await listen((req, res) => {
      const before =
        res.listenerCount('finish') + res.listenerCount('close') + res.listenerCount('error');
      record = pipeline.begin(req, res);
      listeners =
        res.listenerCount('finish') +
        res.listenerCount('close') +
        res.listenerCount('error') -
        before;
      res.statusCode = 201;
      res.end('ok');
    });
    closers.push(close);
    expect(await (await fetch(url)).text()).toBe('ok');
    await waitFor(() => calls.length === 10, 5000, 'the end steps');
    expect(listeners).toBe(3);
    expect(calls).toEqual([
      'begin id /r',
      'begin span /r',
      'begin metrics /r',
      'begin drain /r',
      'begin access /r',
      'end id 201',
      'end metrics 201',
      'end span 201',
      'end access 201',
      'end drain 201',
    ]);
    expect(record?.outcome).toBe('finished');
    expect(record?.start).toBeGreaterThan(0);
  });

  it('tells an aborted response as 499, once', async () => {
    const calls: string[] = [];
    const pipeline = new RequestPipeline(raw);
    pipeline.add(recorder(calls, 'metrics', STEP.metrics));
    let got!: () => void;
    const arrived = new Promise<void>((resolve) => (got = resolve));
    const { port, close } = await listen((req, res) => {
      pipeline.begin(req, res);
      res.writeHead(200);
      res.write('part');
      got();
    });
    closers.push(close);
    const req = httpRequest({ host: '127.0.0.1', port, path: '/' }, (res) => {
      res.once('data', () => req.destroy());
    });
    req.on('error', () => undefined);
    req.end();
    await arrived;
    await waitFor(() => calls.length === 2, 5000, 'the abort');
    expect(calls).toEqual(['begin metrics -', 'end metrics 499']);
  });

  it('makes the route only when a step reads it', async () => {
    let asked = 0;
    const pipeline = new RequestPipeline({ ...raw, routeAtBegin: () => (asked++, '/r') });
    pipeline.add({ order: STEP.requestId, begin: () => undefined });
    const { url, close } = await listen((req, res) => {
      pipeline.begin(req, res);
      res.end();
    });
    closers.push(close);
    await (await fetch(url)).arrayBuffer();
    expect(asked).toBe(0);
  });
});

describe('endpoints', () => {
  it('are per Fastify app, whatever the method, with one onRequest hook for every step', async () => {
    const seen: (string | undefined)[] = [];
    const make = async (endpoint: boolean) => {
      const app = Fastify();
      const pipeline = fastifyPipeline(app);
      pipeline.add({ order: STEP.metrics, begin: (_q, _s, r) => void seen.push(r.endpoint) });
      pipeline.add({ order: STEP.span, begin: () => undefined });
      expect(fastifyPipeline(app)).toBe(pipeline);
      if (endpoint) pipeline.addEndpoint('/health/live');
      app.all('/health/live', async () => 'ok');
      await app.listen({ port: 0, host: '127.0.0.1' });
      closers.push(() => app.close());
      return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    };
    const a = await make(true);
    const b = await make(false);
    await (await fetch(`${a}/health/live`, { method: 'POST' })).text();
    await (await fetch(`${b}/health/live`)).text();
    expect(seen).toEqual(['/health/live', undefined]);
  });

  it('are per obskit Express middleware, and its endpoint handler answers them', async () => {
    const seen: (string | undefined)[] = [];
    const middleware = expressMiddleware(
      [
        {
          steps: [{ order: STEP.metrics, begin: (_q, _s, r) => void seen.push(r.endpoint) }],
          endpoints: ['/metrics'],
          serve(req, res) {
            if (req.method !== 'GET') return false;
            res.end('scraped');
            return true;
          },
        },
      ],
      undefined,
      false,
    );
    const app = express();
    app.use(middleware);
    app.all('/other', (_req, res) => {
      res.send('other');
    });
    const { url, close } = await listen(app);
    closers.push(close);
    expect(await (await fetch(`${url}/metrics`)).text()).toBe('scraped');
    expect((await fetch(`${url}/metrics`, { method: 'POST' })).status).toBe(404);
    expect(await (await fetch(`${url}/other`)).text()).toBe('other');
    expect(seen).toEqual(['/metrics', '/metrics', undefined]);
    expect(middleware.pipeline.isEndpoint('/metrics')).toBe(true);
    expect(expressMiddleware([], undefined, false).pipeline.isEndpoint('/metrics')).toBe(false);
  });
});
