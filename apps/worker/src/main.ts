// Starts the demo worker: jobs from the SQLite queue (or, with DATABASE_URL and REDIS_URL, from
// BullMQ with their records in PostgreSQL), and an Express ops server with /metrics and /health/*.
// SIGTERM finishes the job in hand, then exits.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { startTracing } from '@obskit/tracing';
// Types only: nothing is loaded before tracing starts.
import type { Check } from '@obskit/api/backend';
import type { Worker as BullWorker } from 'bullmq';
import type { NextFunction, Request, Response } from 'express';
import type { Registry } from 'prom-client';

const env = process.env;
const otlp = Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
startTracing({
  serviceName: 'obskit-demo-worker',
  ...(env.OTEL_TRACES_EXPORTER || otlp ? {} : { exporter: 'none' as const }),
});

const { default: express } = await import('express');
const { createLogger } = await import('@obskit/core');
const { obskit } = await import('obskit/express');
const { queueName, scaledOut } = await import('@obskit/api/backend');

const workerId = env.WORKER_ID ?? `${hostname()}-${process.pid}`;
const logger = createLogger({ service: 'obskit-demo-worker', base: { worker: workerId } });

/** What the two kinds of queue give the ops server and the shutdown. */
interface Consumer {
  checks: Record<string, Check>;
  start(registry: Registry, hold: (name: string) => () => void): void;
  stop(): Promise<void>;
  close(): Promise<void>;
}

async function sqliteConsumer(): Promise<Consumer> {
  const { createJobMetrics } = await import('@obskit/metrics');
  const { JobStore } = await import('@obskit/api/store');
  const { Worker } = await import('./worker.js');
  const store = new JobStore(join(env.DATA_DIR ?? 'data', 'jobs.sqlite'));
  let worker: InstanceType<typeof Worker> | undefined;
  const beat = (): void => {
    if (store.db.open) store.heartbeat(workerId);
  };
  return {
    checks: {
      database: () => store.ping(),
      // The readiness report carries the queue's statistics as this check's details.
      queue: () => {
        const { waiting, active, failed } = store.queueStats();
        return { waiting, active, failed };
      },
    },
    start(registry, hold) {
      const jobs = createJobMetrics({
        registry,
        queue: 'jobs',
        queueStats: () => (store.db.open ? store.queueStats() : {}),
      });
      worker = new Worker({
        id: workerId,
        store,
        jobs,
        logger,
        hold,
        leaseMs: Number(env.LEASE_MS ?? 30_000),
        pollMs: Number(env.POLL_MS ?? 200),
        backoffMs: Number(env.BACKOFF_MS ?? 500),
      });
      beat();
      setInterval(beat, 2000).unref();
      worker.start();
    },
    stop: async () => worker?.stop(),
    close: async () => store.close(),
  };
}

async function bullmqConsumer(): Promise<Consumer> {
  const { PgJobStore } = await import('@obskit/api/pg-store');
  const { redisConnection } = await import('@obskit/api/backend');
  const { bullmqQueueMetrics, bullmqQueueStats } = await import('@obskit/bullmq');
  const { pgCheck, pgPoolMetrics } = await import('@obskit/pg');
  const { Queue } = await import('bullmq');
  const { bullmqWorker } = await import('./bullmq-worker.js');
  const name = queueName(env);
  const store = await PgJobStore.open(env.DATABASE_URL!, 4);
  const redis = redisConnection(env.REDIS_URL!, { worker: true });
  await redis.connect();
  const queue = new Queue(name, { connection: redis });
  const stats = bullmqQueueStats(queue);
  let worker: BullWorker | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => (stopping ??= worker?.close() ?? Promise.resolve());
  const beat = (): void => {
    store.heartbeat(workerId).catch((err: unknown) => logger.warn({ err }, 'heartbeat failed'));
  };
  return {
    checks: {
      database: pgCheck(store.pool),
      queue: async () => {
        const { waiting, active, failed } = await stats();
        return { waiting, active, failed };
      },
    },
    start(registry, hold) {
      pgPoolMetrics(store.pool, { registry, poolName: 'worker' });
      // Every worker reads the same queue: dashboards take the max over instances.
      bullmqQueueMetrics(queue, { registry, logger });
      worker = bullmqWorker({
        id: workerId,
        queue: name,
        store,
        connection: redis,
        registry,
        logger,
        hold,
        concurrency: Number(env.CONCURRENCY ?? 1),
      }).worker;
      worker.on('error', (err) => logger.error({ err }, 'queue worker error'));
      beat();
      setInterval(beat, 2000).unref();
      void worker.run();
    },
    // BullMQ's close waits for the jobs in hand.
    stop,
    async close() {
      await stop();
      await queue.close();
      redis.disconnect();
      await store.close();
    },
  };
}

const consumer = scaledOut(env) ? await bullmqConsumer() : await sqliteConsumer();
const o = obskit({
  service: 'obskit-demo-worker',
  logger,
  health: {
    checks: consumer.checks,
    shutdown: {
      // The worker serves no traffic but its probes and /metrics: 1 s of drain unless
      // OBSKIT_DRAIN_DELAY_MS says otherwise. Its deadline is obskit's (OBSKIT_SHUTDOWN_TIMEOUT_MS,
      // default 25 s, inside Kubernetes' default 30 s grace period).
      ...(env.OBSKIT_DRAIN_DELAY_MS === undefined ? { drainDelayMs: 1000 } : {}),
      // Stop taking jobs at the signal; the job in hand holds the shutdown until it is done.
      onShutdownStart: () => void consumer.stop(),
      onShutdown: () => consumer.close(),
    },
  },
});
const health = o.health!;
consumer.start(o.metrics!.registry, (name) => health.hold(name));

const app = express();
app.use(o);
app.get('/', (_req, res) => {
  res.json({ worker: workerId });
});
app.use((req, res) => {
  res.status(404).json({ error: 'Not Found', message: `no route for ${req.method} ${req.path}` });
});
app.use(o.errors());
app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
  res.status(500).json({ error: 'Internal Server Error', message: err.message });
});
const server = o.attach(
  app.listen(Number(env.OPS_PORT ?? 3001), env.HOST ?? '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    logger.info({ port }, 'worker ops server listening');
  }),
);
