// The demo scaled out, against the real PostgreSQL (127.0.0.1:5432, trust auth) and Redis
// (127.0.0.1:6379) that `.ci/run` starts where they are missing (scripts/ensure-services.mjs):
// two API processes and two workers, jobs in PostgreSQL, their queue on BullMQ.
import { waitFor } from '@obskit/test-support';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otlpReceiver, postJob, scaledOutServices, startApp, type Service } from './processes.js';

const services = scaledOutServices('scale');
const { pgConfig, redisUrl, database, queueName } = services;

beforeAll(() => services.setup());
afterAll(() => services.teardown());

const sum = (texts: string[], name: string, labels: string): number =>
  texts
    .flatMap((t) => t.split('\n'))
    .filter((l) => l.startsWith(`${name}{`) && l.includes(labels))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);

describe('the demo scaled out: PostgreSQL + BullMQ', () => {
  it('two APIs and two workers: 100 jobs, each processed once, one trace each, counted once', async () => {
    const otlp = await otlpReceiver();
    const env = services.env(otlp.url);
    const apis = [await startApp('api', env), await startApp('api', env)];
    const workers: Service[] = [
      await startApp('worker', { ...env, WORKER_ID: 'w1', CONCURRENCY: '2' }),
      await startApp('worker', { ...env, WORKER_ID: 'w2', CONCURRENCY: '2' }),
    ];

    const ids: number[] = [];
    await Promise.all(
      Array.from({ length: 4 }, async (_, lane) => {
        for (let i = 0; i < 25; i++) {
          const posted = await postJob(apis[lane % 2]!.url, {
            type: 'thumbnail',
            payload: { durationMs: 5 },
          });
          expect(posted.status, JSON.stringify(posted.json)).toBe(202);
          ids.push(posted.json.id as number);
        }
      }),
    );
    expect(new Set(ids).size).toBe(100);

    const db = new pg.Client({ ...pgConfig, database });
    await db.connect();
    try {
      await waitFor(
        async () =>
          (await db.query(`SELECT count(*)::int AS n FROM jobs WHERE status = 'done'`)).rows[0]
            .n === 100,
        30_000,
        'all 100 jobs to be done',
      );
      // Each job ran exactly once: one finished attempt, done, per job.
      const runs = (
        await db.query<{ job_id: string; outcome: string; worker: string }>(
          'SELECT job_id, outcome, worker FROM job_runs',
        )
      ).rows;
      expect(runs).toHaveLength(100);
      expect(runs.every((r) => r.outcome === 'done')).toBe(true);
      expect(new Set(runs.map((r) => Number(r.job_id)))).toEqual(new Set(ids));
      expect(new Set(runs.map((r) => r.worker))).toEqual(new Set(['w1', 'w2']));

      // One trace per job, from the request through both processes.
      const jobs = (
        await db.query<{ id: string; trace: { traceparent: string }; request_id: string }>(
          'SELECT id, trace, request_id FROM jobs',
        )
      ).rows;
      const traceOf = new Map(jobs.map((j) => [Number(j.id), j.trace.traceparent.split('-')[1]]));
      expect(new Set(traceOf.values()).size).toBe(100);
      // Each process exports its spans in its own batches: wait for both sides of every job.
      await waitFor(
        () =>
          otlp.spans.filter((s) => s.name === `${queueName} process`).length >= 100 &&
          otlp.spans.filter((s) => s.name === 'POST /jobs').length >= 100,
        15_000,
        'a request span and a consumer span per job',
      );
      for (const [id, traceId] of traceOf) {
        const inTrace = otlp.spans.filter((s) => s.traceId === traceId);
        const request = inTrace.filter((s) => s.name === 'POST /jobs');
        const consumer = inTrace.filter((s) => s.name === `${queueName} process`);
        expect(request, `job ${id}`).toHaveLength(1);
        expect(request[0]!.service).toBe('obskit-demo-api');
        expect(consumer, `job ${id}`).toHaveLength(1);
        expect(consumer[0]!.service).toBe('obskit-demo-worker');
        // request ─► the job's producer span (addJob) ─► the worker's consumer span
        const producer = inTrace.filter((s) => s.name === `send ${queueName}`);
        expect(producer, `job ${id}`).toHaveLength(1);
        expect(producer[0]!.parentSpanId).toBe(request[0]!.spanId);
        expect(consumer[0]!.parentSpanId).toBe(producer[0]!.spanId);
      }
      // The job lines carry the request id of the request that made the job.
      const reqIdOf = new Map(jobs.map((j) => [String(j.id), j.request_id]));
      // Log lines reach the workers' standard output on their own schedule.
      const doneLines = () => workers.flatMap((w) => w.lines()).filter((l) => l.msg === 'job done');
      await waitFor(() => doneLines().length >= 100, 10_000, 'a "job done" line per job');
      const done = doneLines();
      expect(done).toHaveLength(100);
      for (const line of done) {
        // BullMQ's job id is `job-<row id>`.
        const id = String(line.jobId).replace(/^job-/, '');
        expect(line.reqId).toBe(reqIdOf.get(id));
        expect(line.trace_id).toBe(traceOf.get(Number(id)));
        expect(line).toMatchObject({ queue: queueName, attempt: 1 });
      }
    } finally {
      await db.end();
    }

    // The metrics, summed over instances as a dashboard does, match the traffic.
    const scrape = (services: Service[]) =>
      Promise.all(services.map(async (s) => (await fetch(`${s.url}/metrics`)).text()));
    // BullMQ counts a job completed once the processor has returned, just after the row is done.
    await waitFor(
      async () => {
        const texts = await scrape(workers);
        return (
          texts.every((text) =>
            text.includes(`job_queue_jobs{queue="${queueName}",state="completed"} 100`),
          ) && sum(texts, 'jobs_total', `queue="${queueName}",status="success"`) >= 100
        );
      },
      10_000,
      'every job completed in BullMQ and counted',
    );
    const [apiTexts, workerTexts] = await Promise.all([scrape(apis), scrape(workers)]);
    expect(sum(workerTexts, 'jobs_total', `queue="${queueName}",status="success"`)).toBe(100);
    expect(sum(workerTexts, 'jobs_total', 'status="failure"')).toBe(0);
    expect(sum(apiTexts, 'jobs_created_total', 'type="thumbnail"')).toBe(100);
    expect(
      sum(apiTexts, 'http_requests_total', 'method="POST",route="/jobs",status_code="202"'),
    ).toBe(100);
    for (const text of workerTexts) {
      // Every worker reads the same queue at scrape time.
      expect(text).toContain(`job_queue_jobs{queue="${queueName}",state="completed"} 100`);
      expect(text).toContain(`job_queue_jobs{queue="${queueName}",state="waiting"} 0`);
      expect(text).toContain(`job_queue_oldest_waiting_age_seconds{queue="${queueName}"} 0`);
      expect(text).toContain('db_client_connection_max{pool_name="worker"} 4');
    }
    expect(sum(apiTexts, 'db_client_connection_count', 'pool_name="api"')).toBeGreaterThan(0);
    const ready = (await (await fetch(`${workers[0]!.url}/health/ready`)).json()) as {
      status: string;
      checks: Record<string, { details?: unknown }>;
    };
    expect(ready.status).toBe('healthy');
    expect(ready.checks.queue?.details).toEqual({ waiting: 0, active: 0, failed: 0 });
    const apiReady = (await (await fetch(`${apis[1]!.url}/health/ready`)).json()) as {
      status: string;
      checks: Record<string, unknown>;
    };
    expect(apiReady.status).toBe('healthy');
    expect(Object.keys(apiReady.checks).sort()).toEqual(['database', 'queue', 'worker']);

    for (const s of [...apis, ...workers]) s.child.kill('SIGTERM');
    expect(await Promise.all([...apis, ...workers].map((s) => s.exited))).toEqual([0, 0, 0, 0]);
    await otlp.close();
  }, 90_000);

  it('one of DATABASE_URL and REDIS_URL without the other stops the app with a message', async () => {
    await expect(startApp('api', { REDIS_URL: redisUrl, DATABASE_URL: '' })).rejects.toThrow(
      /DATABASE_URL and REDIS_URL go together/,
    );
    await expect(
      startApp('worker', { DATABASE_URL: `postgres://127.0.0.1/${database}`, REDIS_URL: '' }),
    ).rejects.toThrow(/DATABASE_URL and REDIS_URL go together/);
  }, 30_000);
});
