import type { IncomingMessage } from 'node:http';
import { requestContextOf, runInRequestContext } from '@obskit/core/internal';
import { gate, listen } from '@obskit/test-support';
import express, { type NextFunction, type Request, type Response } from 'express';
import Fastify from 'fastify';
import type { Registry } from 'prom-client';
import { metrics as expressMetrics } from '../src/express.js';
import { metrics as fastifyMetrics } from '../src/fastify.js';
import type { HttpMetricsOptions } from '../src/index.js';

/** /slow waits here until the test releases it (see `gate`). */
export const slowRoute = gate();
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
  exemplar?: string;
}

/** Parses Prometheus text or OpenMetrics output back into samples. */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*?)\})? (\S+)(?: \S+)?(?: # (.*))?$/.exec(line);
    if (!m) throw new Error(`unparseable line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1] as string] = pair[2] as string;
    }
    const sample: Sample = { name: m[1] as string, labels, value: Number(m[4]) };
    if (m[5] !== undefined) sample.exemplar = m[5];
    samples.push(sample);
  }
  return samples;
}

export const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
export const SPAN_ID = '00f067aa0ba902b7';

export interface Running {
  url: string;
  registry: Registry;
  close(): Promise<void>;
  /** The separate metrics listener's URL, when one was asked for. */
  metricsUrl?: string;
}

export interface Framework {
  name: 'fastify' | 'express';
  start(options?: HttpMetricsOptions): Promise<Running>;
}

/**
 * Stands in for the tracing package: puts a trace into the request context, sampled for
 * `x-test-trace: 1`, unsampled for `x-test-trace: 0`.
 */
function traceHeaderToContext(req: IncomingMessage): void {
  const flag = req.headers['x-test-trace'];
  if (flag === '1' || flag === '0') {
    const context = requestContextOf(req);
    context.traceId = TRACE_ID;
    context.spanId = SPAN_ID;
    context.traceFlags = flag === '1' ? '01' : '00';
  }
}

export const frameworks: Framework[] = [
  {
    name: 'fastify',
    async start(options = {}) {
      const app = Fastify();
      app.addHook('onRequest', (request, _reply, done) => {
        traceHeaderToContext(request.raw);
        runInRequestContext(request.raw, done);
      });
      await app.register(fastifyMetrics, options);
      app.get('/users/:id', async (request) => ({ id: (request.params as { id: string }).id }));
      app.post('/users', async (_request, reply) => reply.code(201).send({ ok: true }));
      app.get('/boom', async () => {
        throw new Error('boom');
      });
      app.get('/slow', async () => {
        await slowRoute.reached();
        return 'late';
      });
      // A response that fails before its head is sent.
      app.get('/destroyed', async (_request, reply) => {
        reply.raw.destroy(new Error('lost the backend'));
        return reply;
      });
      app.post('/upload', async () => 'ok');
      await app.register(
        async (v1) => {
          v1.get('/items/:id', async () => 'item');
        },
        { prefix: '/v1' },
      );
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.server.address() as { port: number };
      const listenPort = options.endpoint ? options.endpoint.listen?.port : undefined;
      return {
        url: `http://127.0.0.1:${port}`,
        registry: app.metrics.registry,
        close: () => app.close(),
        ...(listenPort !== undefined ? { metricsUrl: `http://127.0.0.1:${listenPort}` } : {}),
      };
    },
  },
  {
    name: 'express',
    async start(options = {}) {
      const app = express();
      app.use((req, _res, next) => {
        traceHeaderToContext(req);
        runInRequestContext(req, next);
      });
      const mw = expressMetrics(options);
      app.use(mw);
      app.get('/users/:id', (req, res) => {
        res.json({ id: req.params.id });
      });
      app.post('/users', (_req, res) => {
        res.status(201).json({ ok: true });
      });
      app.get('/boom', () => {
        throw new Error('boom');
      });
      app.get('/slow', async (_req, res) => {
        await slowRoute.reached();
        if (!res.destroyed) res.send('late');
      });
      app.get('/destroyed', (_req, res) => {
        res.destroy(new Error('lost the backend'));
      });
      app.post('/upload', express.raw({ type: '*/*', limit: '1mb' }), (_req, res) => {
        res.send('ok');
      });
      const v1 = express.Router();
      v1.get('/items/:id', (_req, res) => {
        res.send('item');
      });
      app.use('/v1', v1);
      app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
        res.status(500).json({ error: err.message });
      });
      const running = await listen(app);
      await mw.listen();
      const listenPort = options.endpoint ? options.endpoint.listen?.port : undefined;
      return {
        url: running.url,
        registry: mw.registry,
        close: async () => {
          await mw.close();
          await running.close();
        },
        ...(listenPort !== undefined ? { metricsUrl: `http://127.0.0.1:${listenPort}` } : {}),
      };
    },
  },
];
