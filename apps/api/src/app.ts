import { createLogger, type Logger } from '@obskit/core';
import { injectTraceContext } from '@obskit/tracing';
import Fastify, { type FastifyInstance } from 'fastify';
import type {} from '@obskit/health/fastify';
import type {} from '@obskit/metrics/fastify';
import { obskit, obskitServerOptions } from 'obskit/fastify';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { traceparentMeta } from '@obskit/web-vitals';
import { webVitals } from '@obskit/web-vitals/fastify';
import { openBackend, type BackendEnv, type JobBackend } from './backend.js';

export const JOB_TYPES = ['email', 'report', 'thumbnail'] as const;

export interface ApiOptions {
  /** The SQLite file's folder, when `backend` is not given and the environment selects none. */
  dataDir?: string;
  /** Where jobs go; default from `env` (see `openBackend`). */
  backend?: JobBackend;
  /** `DATABASE_URL`, `REDIS_URL`, `QUEUE_NAME`, `DATA_DIR`. Default: none (SQLite in `dataDir`). */
  env?: BackendEnv;
  logger?: Logger;
  /** A worker that has not reported for this long makes the API `degraded`. Default 15 s. */
  workerStaleMs?: number;
  /** Graceful shutdown settings (tests shorten the drain). */
  drainDelayMs?: number;
  /** The whole shutdown's limit. Default 25 s, inside Kubernetes' default 30 s grace period. */
  shutdownTimeoutMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The demo page: reports its vitals, queues one job in its own trace, shows the job's id. */
const page = (): string => `<!doctype html>
<html>
  <head>
    <meta charset="utf-8" />
    ${traceparentMeta()}
    <title>obskit demo</title>
  </head>
  <body>
    <h1>obskit demo</h1>
    <p id="job">Queueing a job…</p>
    <script src="/assets/obskit-web-vitals.js"></script>
    <script>
      obskitWebVitals.reportWebVitals();
      const traceparent = obskitWebVitals.pageTraceparent();
      fetch('/jobs', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(traceparent ? { traceparent } : {}) },
        body: JSON.stringify({ type: 'email', payload: { from: 'page' } }),
      })
        .then((response) => response.json())
        .then((job) => {
          document.getElementById('job').textContent = 'Job ' + job.id + ' queued.';
          document.body.dataset.job = String(job.id);
        });
    </script>
  </body>
</html>
`;

/** The demo API: jobs on SQLite (or PostgreSQL + BullMQ), with obskit turned on. */
export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const store =
    options.backend ?? (await openBackend({ DATA_DIR: options.dataDir, ...options.env }));
  const logger = options.logger ?? createLogger({ service: 'obskit-demo-api' });
  const workerStaleMs = options.workerStaleMs ?? 15_000;
  const obskitOptions = {
    service: 'obskit-demo-api',
    logger,
    tracing: {},
    health: {
      checks: {
        ...store.checks(),
        worker: {
          critical: false,
          check: async () => {
            const last = await store.lastHeartbeat();
            if (last === undefined) throw new Error('no worker has reported yet');
            const age = Date.now() - last.getTime();
            if (age > workerStaleMs)
              throw new Error(`last worker heartbeat ${Math.round(age / 1000)} s ago`);
            return { lastHeartbeat: last.toISOString() };
          },
        },
      },
      shutdown: {
        // Unset: obskit's own, from OBSKIT_DRAIN_DELAY_MS / OBSKIT_SHUTDOWN_TIMEOUT_MS or its
        // defaults (5 s, 25 s).
        ...(options.drainDelayMs === undefined ? {} : { drainDelayMs: options.drainDelayMs }),
        ...(options.shutdownTimeoutMs === undefined
          ? {}
          : { timeoutMs: options.shutdownTimeoutMs }),
        onShutdown: () => store.close(),
      },
    },
  };
  const app = Fastify({
    ...obskitServerOptions(obskitOptions),
    bodyLimit: 64 * 1024,
    // Unknown fields are an error, not silently dropped: a bad body stores nothing.
    ajv: { customOptions: { removeAdditional: false } },
  });
  await app.register(obskit, obskitOptions);
  store.instrument(app.metrics.registry);
  const created = app.metrics.counter({
    name: 'jobs_created_total',
    help: 'Jobs accepted by the API, by type.',
    labelNames: ['type'],
  });

  app.post(
    '/jobs',
    {
      schema: {
        body: {
          type: 'object',
          required: ['type'],
          additionalProperties: false,
          properties: {
            type: { type: 'string', enum: [...JOB_TYPES] },
            payload: { type: 'object', maxProperties: 50 },
            maxAttempts: { type: 'integer', minimum: 1, maximum: 10 },
          },
        },
      },
    },
    async (request, reply) => {
      const body = request.body as { type: string; payload?: object; maxAttempts?: number };
      const id = await store.create({
        type: body.type,
        payload: body.payload ?? {},
        maxAttempts: body.maxAttempts,
        requestId: request.id,
        trace: injectTraceContext() as Record<string, string>,
      });
      created.inc({ type: body.type });
      request.log.info({ jobId: id, type: body.type }, 'job queued');
      return reply.code(202).send({ id, status: 'queued' });
    },
  );

  app.get(
    '/jobs/:id',
    { schema: { params: { type: 'object', properties: { id: { type: 'integer', minimum: 1 } } } } },
    async (request, reply) => {
      const job = await store.get((request.params as { id: number }).id);
      if (job === undefined)
        return reply.code(404).send({ error: 'Not Found', message: 'no such job' });
      return job;
    },
  );

  app.get(
    '/jobs',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: {
            limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
            after: { type: 'integer', minimum: 0, default: 0 },
          },
        },
      },
    },
    async (request) => {
      const { limit, after } = request.query as { limit: number; after: number };
      const jobs = await store.list(after, limit);
      const last = jobs[jobs.length - 1];
      return {
        jobs,
        next: jobs.length === limit && last ? `/jobs?after=${last.id}&limit=${limit}` : null,
      };
    },
  );

  // A simulated user lookup with variable latency, to give the latency histogram a shape.
  app.get('/users/:id', async (request) => {
    const id = (request.params as { id: string }).id;
    await sleep(5 + Math.random() * 45);
    return { id, name: `user ${id}` };
  });

  // Fails on purpose, to see errors in metrics, traces and alerts.
  app.get('/fail', async () => {
    throw new Error('simulated failure');
  });

  // A page: its web vitals reach the intake, and the job it queues continues the page load's
  // trace (its traceparent meta tag, sent as the POST's traceparent header): one trace from the
  // browser through the API, its INSERT and the queue to the worker and its queries.
  await app.register(webVitals, { pages: ['/'] });
  const bundle = readFileSync(
    createRequire(import.meta.url).resolve('@obskit/web-vitals/browser.global.js'),
    'utf8',
  );
  app.get('/assets/obskit-web-vitals.js', async (_request, reply) =>
    reply
      .type('text/javascript; charset=utf-8')
      .header('cache-control', 'max-age=3600')
      .send(bundle),
  );
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(page()));

  app.addHook('onClose', async () => store.close());
  // The obskit logger types the instance more narrowly than FastifyInstance's default.
  return app as unknown as FastifyInstance;
}
