import { createLogger } from '@obskit/core';
import { listen, logSink, type LogSink } from '@obskit/test-support';
import express, { type NextFunction, type Request, type Response } from 'express';
import Fastify from 'fastify';
import { context, propagation, trace } from '@opentelemetry/api';
import { tracing as expressTracing, tracingErrors } from '../src/express.js';
import { tracing as fastifyTracing } from '../src/fastify.js';
import { injectTraceContext, type TraceCarrier } from '../src/index.js';

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
    async start(): Promise<Running> {
      const sink = logSink();
      const logger = createLogger({ service: 'traced', destination: sink.stream });
      const carriers: TraceCarrier[] = [];
      const app = Fastify();
      await app.register(fastifyTracing);
      app.get('/users/:id', async () => {
        logger.info('loading user');
        carriers.push(injectTraceContext());
        return inspect();
      });
      app.get('/boom', async () => {
        throw new TypeError('bad thing');
      });
      app.get('/slow', async () => {
        await new Promise((resolve) => setTimeout(resolve, 1000));
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
    async start(): Promise<Running> {
      const sink = logSink();
      const logger = createLogger({ service: 'traced', destination: sink.stream });
      const carriers: TraceCarrier[] = [];
      const app = express();
      app.use(expressTracing());
      app.get('/users/:id', (_req, res) => {
        logger.info('loading user');
        carriers.push(injectTraceContext());
        res.json(inspect());
      });
      app.get('/boom', () => {
        throw new TypeError('bad thing');
      });
      app.get('/slow', async (_req, res) => {
        await new Promise((resolve) => setTimeout(resolve, 1000));
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
