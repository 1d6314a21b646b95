import { createServer, request as httpRequest } from 'node:http';
import { createLogger, getRequestContext, type Logger } from '@obskit/core';
import { listen, logSink, quietLogger, type LogSink } from '@obskit/test-support';
import express, { type NextFunction, type Request, type Response } from 'express';
import Fastify from 'fastify';
import { pinoHttp } from 'pino-http';
import { requestId as expressRequestId } from '../src/express.js';
import { requestId as fastifyRequestId, requestIdServerOptions } from '../src/fastify.js';
import type { RequestIdOptions } from '../src/index.js';

export interface Running {
  url: string;
  sink: LogSink;
  close(): Promise<void>;
}

/** A service called from the handler: logs through the app logger, outside the framework. */
function serviceCall(logger: Logger): string | undefined {
  logger.info('service called');
  return getRequestContext()?.reqId;
}

/**
 * Calls `downstream` with fetch and with node:http (the echo server answers with the headers it
 * got); with `own`, both calls set `x-request-id` themselves.
 */
async function outgoing(
  downstream: string | undefined,
  own?: string,
): Promise<Record<string, unknown>> {
  if (downstream === undefined) return {};
  const headers: Record<string, string> = own === undefined ? {} : { 'x-request-id': own };
  const viaFetch = (await (await fetch(downstream, { headers })).json()) as Record<string, unknown>;
  const viaHttp = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const req = httpRequest(downstream, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(JSON.parse(body) as Record<string, unknown>));
    });
    if (own !== undefined) req.setHeader('X-Request-Id', own);
    req.on('error', reject).end();
  });
  return { viaFetch, viaHttp };
}

export interface Framework {
  name: 'fastify' | 'express';
  start(options?: RequestIdOptions, downstream?: string): Promise<Running>;
}

export const frameworks: Framework[] = [
  {
    name: 'fastify',
    async start(given = {}, downstream) {
      const sink = logSink();
      const logger = createLogger({ service: 'test', destination: sink.stream });
      const options = { logger: quietLogger(), ...given };
      const app = Fastify({ loggerInstance: logger, ...requestIdServerOptions(options) });
      await app.register(fastifyRequestId, options);
      app.get('/ok', async (request) => {
        request.log.info('handler log');
        const fromService = serviceCall(logger);
        return {
          id: request.id,
          context: getRequestContext()?.reqId,
          fromService,
          ...(await outgoing(downstream)),
        };
      });
      app.get('/own', async () => outgoing(downstream, 'set-by-caller'));
      app.get('/boom', async () => {
        throw new Error('boom');
      });
      // What the handler sees of the response header, and a handler that replaces it.
      app.get('/seen', async (_request, reply) => ({ header: reply.getHeader('x-request-id') }));
      app.get('/replaced', async (_request, reply) => {
        void reply.header('X-Request-Id', 'replaced-by-handler');
        return {};
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      const { port } = app.server.address() as { port: number };
      return { url: `http://127.0.0.1:${port}`, sink, close: () => app.close() };
    },
  },
  {
    name: 'express',
    async start(given = {}, downstream) {
      const sink = logSink();
      const logger = createLogger({ service: 'test', destination: sink.stream });
      const options = { logger: quietLogger(), ...given };
      const app = express();
      app.use(expressRequestId(options));
      app.use(pinoHttp({ logger, genReqId: (req) => (req as Request).id }));
      app.get('/ok', async (req, res) => {
        req.log.info('handler log');
        const fromService = serviceCall(logger);
        res.json({
          id: req.id,
          context: getRequestContext()?.reqId,
          fromService,
          ...(await outgoing(downstream)),
        });
      });
      app.get('/own', async (_req, res) => {
        res.json(await outgoing(downstream, 'set-by-caller'));
      });
      app.get('/boom', () => {
        throw new Error('boom');
      });
      app.get('/seen', (_req, res) => {
        res.json({ header: res.getHeader('x-request-id') });
      });
      app.get('/replaced', (_req, res) => {
        res.setHeader('X-Request-Id', 'replaced-by-handler');
        res.json({});
      });
      app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
        res.status(500).json({ error: err.message });
      });
      const running = await listen(app);
      return { url: running.url, sink, close: running.close };
    },
  },
];

/** A downstream server that answers with the request headers it received. */
export async function echoServer(): Promise<{ url: string; close(): Promise<void> }> {
  const running = await listen(
    createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(req.headers));
    }),
  );
  return { url: running.url, close: running.close };
}
