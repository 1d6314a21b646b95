// Starts the demo worker: jobs from the SQLite queue, and an Express ops server with /metrics and
// /health/*. SIGTERM finishes the job in hand, then exits.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { startTracing } from '@obskit/tracing';
import type { NextFunction, Request, Response } from 'express';

const env = process.env;
const otlp = Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
startTracing({
  serviceName: 'obskit-demo-worker',
  ...(env.OTEL_TRACES_EXPORTER || otlp ? {} : { exporter: 'none' as const }),
});

const { default: express } = await import('express');
const { createLogger } = await import('@obskit/core');
const { createJobMetrics } = await import('@obskit/metrics');
const { obskit } = await import('obskit/express');
const { JobStore } = await import('@obskit/api/store');
const { Worker } = await import('./worker.js');

const workerId = env.WORKER_ID ?? `${hostname()}-${process.pid}`;
const logger = createLogger({ service: 'obskit-demo-worker', base: { worker: workerId } });
const store = new JobStore(join(env.DATA_DIR ?? 'data', 'jobs.sqlite'));
const o = obskit({
  service: 'obskit-demo-worker',
  logger,
  health: {
    checks: { database: () => store.ping() },
    shutdown: {
      drainDelayMs: Number(env.DRAIN_DELAY_MS ?? 1000),
      // Inside Kubernetes' default 30 s grace period: a job longer than that is cut off anyway.
      timeoutMs: Number(env.SHUTDOWN_TIMEOUT_MS ?? 25_000),
      // Stop claiming at the signal; the job in hand holds the shutdown until it is done.
      onShutdownStart: () => void worker.stop(),
      onShutdown: () => store.close(),
    },
  },
});
const registry = o.metrics!.registry;
const jobs = createJobMetrics({
  registry,
  queue: 'jobs',
  queueDepth: () => (store.db.open ? store.queueDepth() : 0),
});
const health = o.health!;
const worker = new Worker({
  id: workerId,
  store,
  jobs,
  logger,
  hold: (name) => health.hold(name),
  leaseMs: Number(env.LEASE_MS ?? 30_000),
  pollMs: Number(env.POLL_MS ?? 200),
  backoffMs: Number(env.BACKOFF_MS ?? 500),
});
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

const beat = (): void => {
  if (store.db.open) store.heartbeat(workerId);
};
beat();
setInterval(beat, 2000).unref();
worker.start();
