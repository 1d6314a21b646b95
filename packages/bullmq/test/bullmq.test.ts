// Against the real Redis on 127.0.0.1:6379 (`.ci/run` starts it where it is missing): jobs added
// from a Fastify and an Express request, processed by a BullMQ worker in another process.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { createLogger } from '@obskit/core';
import { gate, listen, logSink, otlpReceiver, quietLogger, waitFor } from '@obskit/test-support';
import { getTracingHandle } from '@obskit/tracing';
import { Queue, Worker } from 'bullmq';
import express from 'express';
import Fastify from 'fastify';
import { Redis as IORedis } from 'ioredis';
import { obskit as expressObskit } from 'obskit/express';
import { obskit as fastifyObskit, obskitServerOptions } from 'obskit/fastify';
import type {} from '@obskit/metrics/fastify';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addJob,
  bullmqQueueMetrics,
  bullmqQueueStats,
  bullmqWorkerMetrics,
} from '../src/index.js';

const fixture = fileURLToPath(new URL('./fixtures/worker.mjs', import.meta.url));
const connection = { host: '127.0.0.1', port: Number(process.env.REDIS_PORT ?? 6379) };
const QUEUE = `orders-${process.pid}`;
const exporter = new InMemorySpanExporter();

beforeAll(async () => {
  const redis = new IORedis({ ...connection, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(
      `Redis is needed on ${connection.host}:${connection.port}: ${(error as Error).message}. Start it with \`node scripts/ensure-services.mjs\` (what .ci/run does), or redis-server --daemonize yes --bind 127.0.0.1.`,
    );
  } finally {
    redis.disconnect();
  }
});

const closers: (() => Promise<unknown>)[] = [];
let worker: ChildProcess | undefined;
afterAll(async () => {
  worker?.kill('SIGTERM');
  await Promise.all(closers.splice(0).map((close) => close()));
  await getTracingHandle()?.shutdown();
});

describe('BullMQ through obskit, on the real Redis', () => {
  it('carries each request’s trace and request id to the worker; metrics match the traffic; a failed attempt is retried and counted', async () => {
    const queue = new Queue(QUEUE, { connection });
    closers.push(() => queue.close());
    await queue.obliterate({ force: true });
    const registry = new Registry();
    bullmqQueueMetrics(queue, { registry });

    const otlp = await otlpReceiver();
    closers.push(otlp.close);
    worker = spawn(process.execPath, [fixture, QUEUE], {
      env: {
        ...process.env,
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_TRACES_EXPORTER: 'otlp',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let workerOut = '';
    let workerErr = '';
    worker.stdout?.on('data', (c: Buffer) => (workerOut += c.toString()));
    worker.stderr?.on('data', (c: Buffer) => (workerErr += c.toString()));
    await waitFor(() => /LISTENING \d+/.test(workerErr), 15_000, `the worker:\n${workerErr}`);
    const metricsUrl = `http://127.0.0.1:${/LISTENING (\d+)/.exec(workerErr)?.[1]}`;

    // Under a PRODUCER span per job (addJob), the trace context in the job's data.
    const addOrder = async (orderId: number, failFirst: boolean) =>
      (await addJob(queue, 'charge', { orderId, failFirst }, { attempts: 2 })).id;
    const tracing = { exporter, processor: 'simple' as const, outgoing: false };

    const sink = logSink();
    const fastifyOptions = {
      service: 'orders-fastify',
      logger: createLogger({ service: 'orders-fastify', destination: sink.stream }),
      tracing,
      health: { shutdown: false as const },
    };
    const fastify = Fastify(obskitServerOptions(fastifyOptions));
    await fastify.register(fastifyObskit, fastifyOptions);
    fastify.post('/orders/:id', async (request) => {
      const { id } = request.params as { id: string };
      return { job: await addOrder(Number(id), id === '2') };
    });
    await fastify.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => fastify.close());
    const fastifyUrl = `http://127.0.0.1:${(fastify.server.address() as { port: number }).port}`;

    const o = expressObskit({
      service: 'orders-express',
      logger: quietLogger(),
      tracing,
      health: { shutdown: false },
    });
    const app = express();
    app.use(o);
    app.post('/orders/:id', async (req, res) => {
      res.json({ job: await addOrder(Number(req.params.id), false) });
    });
    const expressApp = await listen(app);
    closers.push(expressApp.close);

    const sent = [
      { url: `${fastifyUrl}/orders/1`, reqId: 'req-fastify-1' },
      { url: `${fastifyUrl}/orders/2`, reqId: 'req-fastify-2' },
      { url: `${expressApp.url}/orders/3`, reqId: 'req-express-3' },
      { url: `${expressApp.url}/orders/4`, reqId: 'req-express-4' },
    ];
    const jobIds: string[] = [];
    for (const { url, reqId } of sent) {
      const response = await fetch(url, { method: 'POST', headers: { 'x-request-id': reqId } });
      jobIds.push(((await response.json()) as { job: string }).job);
    }

    await waitFor(
      () => otlp.spans.filter((s) => s.kind === SpanKind.CONSUMER + 1).length >= 5,
      20_000,
      `five consumer spans (four jobs, one retried):\n${workerOut}`,
    );
    const servers = exporter
      .getFinishedSpans()
      .filter((s) => s.kind === SpanKind.SERVER && s.name === 'POST /orders/:id');
    expect(servers).toHaveLength(4);
    const consumers = otlp.spans.filter((s) => s.kind === SpanKind.CONSUMER + 1);
    // One trace per job: request ─► producer span ─► the worker's consumer span (twice for the
    // retried job).
    const producers = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.PRODUCER);
    expect(producers).toHaveLength(4);
    for (const server of servers) {
      const traceId = server.spanContext().traceId;
      const producer = producers.find((p) => p.spanContext().traceId === traceId)!;
      expect(producer.name).toBe(`send ${QUEUE}`);
      expect(producer.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
      expect(producer.attributes['messaging.message.id']).toMatch(/^\d+$/);
      const mine = consumers.filter((c) => c.traceId === traceId);
      expect(mine.length).toBeGreaterThanOrEqual(1);
      for (const c of mine) expect(c.parentSpanId).toBe(producer.spanContext().spanId);
    }
    expect(new Set(consumers.map((c) => c.traceId)).size).toBe(4);

    const linesOf = () =>
      workerOut
        .slice(0, workerOut.lastIndexOf('\n') + 1)
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    // The worker's log lines reach its standard output on their own schedule, not with its spans.
    await waitFor(
      () => jobIds.every((id) => linesOf().some((l) => l.jobId === id && l.msg === 'job done')),
      10_000,
      `a "job done" line for each job:\n${workerOut}`,
    );
    const lines = linesOf();
    for (const [i, { reqId }] of sent.entries()) {
      const mine = lines.filter((l) => l.jobId === jobIds[i]);
      expect(mine.map((l) => l.msg)).toContain('job done');
      for (const line of mine) {
        expect(line).toMatchObject({ reqId, queue: QUEUE });
        expect(line.trace_id).toMatch(/^[0-9a-f]{32}$/);
      }
    }
    const failed = lines.find((l) => l.msg === 'job failed');
    expect(failed).toMatchObject({ jobId: jobIds[1], attempt: 1, reqId: 'req-fastify-2' });
    expect(lines.find((l) => l.msg === 'job done' && l.jobId === jobIds[1])?.attempt).toBe(2);

    await waitFor(
      async () =>
        (await (await fetch(metricsUrl)).text()).includes(
          `jobs_total{queue="${QUEUE}",status="success"} 4`,
        ),
      10_000,
      'the worker metrics',
    );
    const workerMetrics = await (await fetch(metricsUrl)).text();
    expect(workerMetrics).toContain(`jobs_total{queue="${QUEUE}",status="failure"} 1`);
    expect(workerMetrics).toContain(`jobs_in_progress{queue="${QUEUE}"} 0`);
    expect(workerMetrics).toContain(
      `job_step_duration_seconds_count{queue="${QUEUE}",step="charge",status="failure"} 1`,
    );
    const queueMetrics = await registry.metrics();
    expect(queueMetrics).toContain(`job_queue_jobs{queue="${QUEUE}",state="completed"} 4`);
    expect(queueMetrics).toContain(`job_queue_jobs{queue="${QUEUE}",state="waiting"} 0`);
    expect(queueMetrics).toContain(`job_queue_oldest_waiting_age_seconds{queue="${QUEUE}"} 0`);
  }, 60_000);

  it('reports waiting jobs and the consumer lag in seconds at scrape time', async () => {
    const name = `${QUEUE}-lag`;
    const queue = new Queue(name, { connection });
    closers.push(() => queue.close());
    await queue.obliterate({ force: true });
    const registry = new Registry();
    bullmqQueueMetrics(queue, { registry });
    await queue.add('a', {});
    await queue.add('b', {}, { delay: 60_000 });
    // The lag is the waiting job's age: read until it is a second old.
    let text = '';
    const lagOf = () =>
      Number(/job_queue_oldest_waiting_age_seconds\{[^}]*\} ([\d.]+)/.exec(text)?.[1]);
    await waitFor(
      async () => {
        text = await registry.metrics();
        return lagOf() >= 1;
      },
      5000,
      'a lag of a second',
    );
    expect(text).toContain(`job_queue_jobs{queue="${name}",state="waiting"} 1`);
    expect(text).toContain(`job_queue_jobs{queue="${name}",state="delayed"} 1`);
    expect(lagOf()).toBeLessThan(5);
    await queue.obliterate({ force: true });
  });

  it('reports every state of job_queue_jobs: active 0 while jobs wait, 1 while one runs', async () => {
    const name = `${QUEUE}-states`;
    const queue = new Queue(name, { connection });
    closers.push(() => queue.close());
    await queue.obliterate({ force: true });
    const registry = new Registry();
    bullmqQueueMetrics(queue, { registry });
    const states = async (): Promise<Record<string, number>> => {
      const text = await registry.metrics();
      const out: Record<string, number> = {};
      for (const m of text.matchAll(/^job_queue_jobs\{queue="[^"]+",state="(\w+)"\} (\d+)$/gm))
        out[m[1]!] = Number(m[2]);
      return out;
    };
    await queue.add('ok', {});
    await queue.add('held', {});
    await queue.add('bad', {});
    await queue.add('later', {}, { delay: 60_000 });
    expect(await states()).toEqual({
      waiting: 3,
      active: 0,
      delayed: 1,
      failed: 0,
      completed: 0,
      paused: 0,
    });

    // One job at a time; the 'held' one runs until the test lets it go.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let running!: () => void;
    const heldRunning = new Promise<void>((resolve) => (running = resolve));
    const worker = new Worker(
      name,
      async (job) => {
        if (job.name === 'held') {
          running();
          await released;
        }
        if (job.name === 'bad') throw new Error('bad job');
      },
      { connection, concurrency: 1 },
    );
    closers.push(() => worker.close());
    await heldRunning;
    expect(await states()).toMatchObject({ waiting: 1, active: 1, completed: 1, delayed: 1 });
    release();
    await waitFor(async () => (await states()).failed === 1, 10_000, 'the bad job failed');
    expect(await states()).toEqual({
      waiting: 0,
      active: 0,
      delayed: 1,
      failed: 1,
      completed: 2,
      paused: 0,
    });

    await worker.close();
    await queue.pause();
    await queue.add('parked', {});
    // A paused queue's jobs: BullMQ 5 keeps them in its wait list (older lines in a paused one).
    const parked = await states();
    expect((parked.waiting ?? 0) + (parked.paused ?? 0)).toBe(1);
    await queue.obliterate({ force: true });
  }, 30_000);

  it.each(['fastify', 'express'])(
    'answers /metrics in time on %s with a queue on an unreachable Redis, the healthy queue kept',
    async (framework) => {
      const closed = await listen(() => {});
      await closed.close();
      const dead = new Queue(`${QUEUE}-dead`, {
        connection: { host: '127.0.0.1', port: closed.port, retryStrategy: () => 200 },
      });
      dead.on('error', () => undefined); // ECONNREFUSED, again and again
      const healthy = new Queue(`${QUEUE}-healthy`, { connection });
      closers.push(
        () => healthy.close(),
        async () => void dead.disconnect(),
      );
      await healthy.obliterate({ force: true });
      await healthy.add('a', {});
      const sink = logSink();
      const logger = createLogger({ service: 'queues', destination: sink.stream });
      const options = {
        service: 'queues',
        logger,
        tracing: { exporter: 'none' as const },
        health: { shutdown: false as const },
      };
      let url: string;
      let registry: Registry;
      if (framework === 'fastify') {
        const app = Fastify(obskitServerOptions(options));
        await app.register(fastifyObskit, options);
        await app.listen({ port: 0, host: '127.0.0.1' });
        closers.push(() => app.close());
        url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
        registry = app.metrics.registry;
      } else {
        const o = expressObskit(options);
        const app = express();
        app.use(o);
        const running = await listen(app);
        closers.push(running.close);
        url = running.url;
        registry = o.metrics!.registry;
      }
      bullmqQueueMetrics(dead, { registry, logger, scrapeTimeoutMs: 300 });
      bullmqQueueMetrics(healthy, { registry, logger, scrapeTimeoutMs: 300 });
      const started = performance.now();
      const response = await fetch(`${url}/metrics`);
      const text = await response.text();
      expect(response.status).toBe(200);
      expect(performance.now() - started).toBeLessThan(3000);
      expect(text).toContain(`job_queue_jobs{queue="${QUEUE}-healthy",state="waiting"} 1`);
      expect(text).not.toContain(`job_queue_jobs{queue="${QUEUE}-dead"`);
      expect(text).toContain(
        `obskit_scrape_errors_total{source="job_queue",name="${QUEUE}-dead",reason="timeout"} 1`,
      );
      const warned = sink.lines().filter((l) => l.level === 'warn' && l.name === `${QUEUE}-dead`);
      expect(warned).toHaveLength(1);
      await healthy.obliterate({ force: true });
    },
    20_000,
  );

  it('ends an attempt that stalled or that a forced close cut: in progress back to 0, counted as failures', async () => {
    const name = `${QUEUE}-cut`;
    const queue = new Queue(name, { connection });
    closers.push(() => queue.close());
    await queue.obliterate({ force: true });
    const registry = new Registry();
    const held = gate();
    const worker = new Worker(name, () => held.reached(), { connection, concurrency: 2 });
    closers.push(async () => {
      held.release();
      await worker.close(true);
    });
    bullmqWorkerMetrics(worker, { registry });
    const value = async (metric: string, labels: Record<string, string>) =>
      (await registry.getSingleMetric(metric)?.get())?.values.find((v) =>
        Object.entries(labels).every(([k, x]) => v.labels[k] === x),
      )?.value ?? 0;
    const [a] = await Promise.all([queue.add('a', {}), queue.add('b', {})]);
    await waitFor(
      async () => (await value('jobs_in_progress', { queue: name })) === 2,
      10_000,
      'two jobs running',
    );
    // BullMQ's stalled checker says a job's lock expired: that attempt is over for this worker.
    worker.emit('stalled', a.id!, 'active');
    expect(await value('jobs_in_progress', { queue: name })).toBe(1);
    expect(await value('jobs_total', { queue: name, status: 'failure' })).toBe(1);
    await worker.close(true);
    await waitFor(
      async () => (await value('jobs_in_progress', { queue: name })) === 0,
      5000,
      'nothing in progress',
    );
    expect(await value('jobs_total', { queue: name, status: 'failure' })).toBe(2);
    expect(await value('jobs_total', { queue: name, status: 'success' })).toBe(0);
    held.release();
    await queue.obliterate({ force: true });
  }, 30_000);

  it('counts the lag of a delayed job from when it became ready', async () => {
    // The oldest waiting job was created 10 s ago with a 9 s delay: it has waited 1 s.
    const created = Date.now() - 10_000;
    const stats = await bullmqQueueStats({
      name: 'delayed',
      getJobCounts: async () => ({ waiting: 1 }),
      getWaiting: async () => [{ timestamp: created, delay: 9000 }],
    })();
    expect(stats.oldestWaitingAgeSeconds).toBeGreaterThanOrEqual(1);
    expect(stats.oldestWaitingAgeSeconds).toBeLessThan(2);
  });

  it('registers a worker once however often asked, and close() takes every listener and series away', async () => {
    const name = `${QUEUE}-handles`;
    const queue = new Queue(name, { connection });
    closers.push(() => queue.close());
    await queue.obliterate({ force: true });
    const registry = new Registry();
    const worker = new Worker(name, async () => 'done', { connection, autorun: false });
    closers.push(() => worker.close());
    const events = ['active', 'completed', 'failed', 'stalled', 'closed'] as const;
    const before = events.map((e) => worker.listenerCount(e));
    const first = bullmqWorkerMetrics(worker, { registry });
    expect(bullmqWorkerMetrics(worker, { registry })).toBe(first);
    expect(events.map((e) => worker.listenerCount(e))).toEqual(before.map((n) => n + 1));
    const queueMetrics = bullmqQueueMetrics(queue, { registry });
    await queue.add('a', {});
    void worker.run();
    const count = async () =>
      (await registry.getSingleMetric('jobs_total')?.get())?.values.find(
        (v) => v.labels.status === 'success',
      )?.value ?? 0;
    await waitFor(async () => (await count()) === 1, 10_000, 'the job counted');
    // Counted once, though registered twice.
    expect(await count()).toBe(1);
    expect(await registry.metrics()).toContain(
      `job_queue_jobs{queue="${name}",state="completed"} 1`,
    );
    first.close();
    queueMetrics.close();
    expect(events.map((e) => worker.listenerCount(e))).toEqual(before);
    expect(await registry.metrics()).not.toContain(`job_queue_jobs{queue="${name}"`);
    await queue.obliterate({ force: true });
  }, 30_000);
});
