import { createLogger } from '@obskit/core';
import { gate, listen, logSink, type LogSink } from '@obskit/test-support';
import express, { type NextFunction, type Request, type Response } from 'express';
import Fastify from 'fastify';
import { get as httpGet } from 'node:http';
import { context, propagation, trace } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { tracing as expressTracing, tracingErrors } from '../src/express.js';
import { tracing as fastifyTracing, type TracingPluginOptions } from '../src/fastify.js';
import { injectTraceContext, withSpan, type TraceCarrier } from '../src/index.js';

/** /slow waits here until the test releases it (see `gate`). */
export const slowRoute = gate();

/** Calls `url` with fetch and with http.get; resolves with the headers each call carried. */
export async function callOut(
  url: string,
  suppressed = false,
): Promise<{ viaFetch: Record<string, string>; viaHttp: Record<string, string> }> {
  // As the SDK runs its own exports (the batch processor): with tracing suppressed.
  if (suppressed) return context.with(suppressTracing(context.active()), () => callOut(url));
  const viaFetch = (await (await fetch(url)).json()) as Record<string, string>;
  const viaHttp = await new Promise<Record<string, string>>((resolve, reject) => {
    httpGet(url, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(JSON.parse(body) as Record<string, string>));
    }).on('error', reject);
  });
  return { viaFetch, viaHttp };
}

export interface Running {
  url: string;
  sink: LogSink;
  carriers: TraceCarrier[];
  close(): Promise<void>;
}

/** What the handler reports about the trace context it runs in. */
function inspect(): Record<string, unknown> {
  const active = context.active();
  const span = trace.getSpan(active);
  const baggage = propagation.getBaggage(active);
  return {
    traceId: span?.spanContext().traceId,
    spanId: span?.spanContext().spanId,
    traceState: span?.spanContext().traceState?.serialize() ?? '',
    baggageEntries: baggage ? baggage.getAllEntries().length : 0,
  };
}

export const frameworks = [
  {
    name: 'fastify',
    async start(options: TracingPluginOptions = {}, downstream?: string): Promise<Running> {
      const sink = logSink();
      const logger = createLogger({ service: 'traced', destination: sink.stream });
      const carriers: TraceCarrier[] = [];
      const app = Fastify();
      await app.register(fastifyTracing, options);
      app.get('/nested', async () => {
        logger.info('in the server span');
        await withSpan('load', {}, async () => logger.info('in a nested span'));
        return 'ok';
      });
      app.get('/call', async () => callOut(downstream!));
      app.get('/call-suppressed', async () => callOut(downstream!, true));
      app.get('/internal/:job', async () => 'internal');
      app.get('/users/:id', async () => {
        logger.info('loading user');
        carriers.push(injectTraceContext());
        return inspect();
      });
      app.get('/boom', async () => {
        throw new TypeError('bad thing');
      });
      app.get('/slow', async () => {
        await slowRoute.reached();
        return 'late';
      });
      await app.register(async (v1) => v1.get('/items/:id', async () => 'item'), { prefix: '/v1' });
      await app.listen({ port: 0, host: '127.0.0.1' });
      return {
        url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`,
        sink,
        carriers,
        close: () => app.close(),
      };
    },
  },
  {
    name: 'express',
    async start(options: TracingPluginOptions = {}, downstream?: string): Promise<Running> {
      const sink = logSink();
      const logger = createLogger({ service: 'traced', destination: sink.stream });
      const carriers: TraceCarrier[] = [];
      const app = express();
      app.use(expressTracing(options));
      app.get('/nested', async (_req, res) => {
        logger.info('in the server span');
        await withSpan('load', {}, async () => logger.info('in a nested span'));
        res.send('ok');
      });
      app.get('/call', async (_req, res) => {
        res.json(await callOut(downstream!));
      });
      app.get('/call-suppressed', async (_req, res) => {
        res.json(await callOut(downstream!, true));
      });
      app.get('/internal/:job', (_req, res) => {
        res.send('internal');
      });
      app.get('/users/:id', (_req, res) => {
        logger.info('loading user');
        carriers.push(injectTraceContext());
        res.json(inspect());
      });
      app.get('/boom', () => {
        throw new TypeError('bad thing');
      });
      app.get('/slow', async (_req, res) => {
        await slowRoute.reached();
        if (!res.destroyed) res.send('late');
      });
      const v1 = express.Router();
      v1.get('/items/:id', (_req, res) => {
        res.send('item');
      });
      app.use('/v1', v1);
      app.use(tracingErrors());
      app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
        res.status(500).json({ error: err.message });
      });
      const running = await listen(app);
      return { url: running.url, sink, carriers, close: running.close };
    },
  },
];
