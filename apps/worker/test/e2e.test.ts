import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { waitFor } from '@obskit/test-support';
import { afterEach, describe, expect, it } from 'vitest';
import { killAll, otlpReceiver, postJob, startApp } from './processes.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  killAll();
  await Promise.all(closers.splice(0).map((close) => close()));
});

const dataDir = (): string => mkdtempSync(join(tmpdir(), 'obskit-e2e-'));
const job = async (api: string, id: unknown) =>
  (await (await fetch(`${api}/jobs/${id}`)).json()) as Record<string, unknown>;
const metric = (text: string, line: string): number | undefined => {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
};

describe('demo API and worker, end to end', () => {
  it('a posted job is done by the worker, in one trace, with matching metrics', async () => {
    const otlp = await otlpReceiver();
    closers.push(otlp.close);
    const env = {
      DATA_DIR: dataDir(),
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      // The receiver below decodes OTLP's JSON encoding (obskit exports http/protobuf by default).
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    };
    const api = await startApp('api', env);
    const worker = await startApp('worker', env);

    const posted = await postJob(api.url, { type: 'email', payload: { to: 'ada@example.com' } });
    expect(posted.status).toBe(202);
    await waitFor(
      async () => (await job(api.url, posted.json.id)).status === 'done',
      10_000,
      'the job to be done',
    );
    const done = await job(api.url, posted.json.id);
    expect(done).toMatchObject({
      status: 'done',
      attempts: 1,
      result: { processed: 'email', attempt: 1 },
    });

    await waitFor(
      () =>
        otlp.spans.some((s) => s.name === 'job email') &&
        otlp.spans.some((s) => s.name === 'POST /jobs'),
      10_000,
      'spans',
    );
    const request = otlp.spans.find((s) => s.name === 'POST /jobs');
    const consumer = otlp.spans.find((s) => s.name === 'job email');
    expect(request?.service).toBe('obskit-demo-api');
    expect(consumer?.service).toBe('obskit-demo-worker');
    expect(consumer?.traceId).toBe(request?.traceId);
    expect(consumer?.parentSpanId).toBe(request?.spanId);
    await waitFor(() => otlp.spans.some((s) => s.name === 'process'), 5000, 'step spans');
    expect(otlp.spans.find((s) => s.name === 'process')?.traceId).toBe(request?.traceId);
    const jobLines = worker.lines().filter((l) => l.jobId === posted.json.id);
    expect(jobLines.length).toBeGreaterThanOrEqual(2);
    for (const line of jobLines) expect(line.trace_id).toBe(request?.traceId);
    const reqId = api.lines().find((l) => l.msg === 'job queued')?.reqId;
    expect(done.requestId).toBe(reqId);
    // The worker's job lines carry the request id of the request that made the job, as `reqId`.
    for (const line of jobLines) expect(line.reqId).toBe(reqId);
    expect(jobLines.find((l) => l.msg === 'job done')).toMatchObject({ queue: 'jobs', attempt: 1 });
    // Every line of both apps has its time and its service.
    for (const line of [...api.lines(), ...worker.lines()]) {
      expect(typeof line.time, JSON.stringify(line)).toBe('string');
      expect(line.service, JSON.stringify(line)).toMatch(/^obskit-demo-(api|worker)$/);
    }
    const missing = await fetch(`${worker.url}/nowhere`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toContain('application/json');
    expect(await missing.json()).toMatchObject({ error: 'Not Found' });

    const apiMetrics = await (await fetch(`${api.url}/metrics`)).text();
    expect(
      metric(apiMetrics, 'http_requests_total{method="POST",route="/jobs",status_code="202"}'),
    ).toBe(1);
    expect(metric(apiMetrics, 'jobs_created_total{type="email"}')).toBe(1);
    const workerMetrics = await (await fetch(`${worker.url}/metrics`)).text();
    expect(metric(workerMetrics, 'jobs_total{queue="jobs",status="success"}')).toBe(1);
    expect(
      metric(
        workerMetrics,
        'job_step_duration_seconds_count{queue="jobs",step="process",status="success"}',
      ),
    ).toBe(1);
    expect(metric(workerMetrics, 'job_queue_depth{queue="jobs"}')).toBe(0);
    const ready = (await (await fetch(`${api.url}/health/ready`)).json()) as { status: string };
    expect(ready.status).toBe('healthy');
  }, 40_000);

  it('invalid job bodies get 400 and nothing is stored', async () => {
    const api = await startApp('api', { DATA_DIR: dataDir() });
    for (const body of [
      {},
      { type: 'nope' },
      { type: 'email', payload: 'x' },
      { type: 'email', extra: 1 },
      { type: 'email', maxAttempts: 0 },
    ]) {
      const r = await postJob(api.url, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(typeof r.json.message).toBe('string');
    }
    const bad = await fetch(`${api.url}/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{not json',
    });
    expect(bad.status).toBe(400);
    expect(((await (await fetch(`${api.url}/jobs`)).json()) as { jobs: unknown[] }).jobs).toEqual(
      [],
    );
    expect((await fetch(`${api.url}/jobs/999`)).status).toBe(404);
  }, 30_000);

  it('SIGTERM mid-job: the job completes before the worker exits, never lost or doubled', async () => {
    const env = { DATA_DIR: dataDir() };
    const api = await startApp('api', env);
    const worker = await startApp('worker', env);
    const posted = await postJob(api.url, { type: 'report', payload: { durationMs: 1500 } });
    await waitFor(
      async () => (await job(api.url, posted.json.id)).status === 'running',
      10_000,
      'the job to start',
    );
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(await job(api.url, posted.json.id)).toMatchObject({ status: 'done', attempts: 1 });
    const db = new Database(join(env.DATA_DIR, 'jobs.sqlite'), { readonly: true });
    closers.push(async () => db.close());
    expect(
      db.prepare('SELECT count(*) AS n FROM job_runs WHERE job_id = ?').get(posted.json.id),
    ).toEqual({ n: 1 });
  }, 30_000);

  it('two workers on 50 jobs process each exactly once; failures retry with backoff', async () => {
    const env = { DATA_DIR: dataDir(), POLL_MS: '20', BACKOFF_MS: '50' };
    const api = await startApp('api', env);
    const workers = [
      await startApp('worker', { ...env, WORKER_ID: 'w1' }),
      await startApp('worker', { ...env, WORKER_ID: 'w2' }),
    ];
    const ids: unknown[] = [];
    for (let i = 0; i < 50; i++) {
      ids.push(
        (
          await postJob(api.url, {
            type: 'thumbnail',
            payload: { durationMs: 5, ...(i === 0 ? { fail: 1 } : {}) },
          })
        ).json.id,
      );
    }
    const failing = (
      await postJob(api.url, { type: 'email', payload: { fail: true }, maxAttempts: 2 })
    ).json.id;
    const db = new Database(join(env.DATA_DIR, 'jobs.sqlite'), { readonly: true });
    closers.push(async () => db.close());
    await waitFor(
      () =>
        (
          db.prepare(`SELECT count(*) AS n FROM jobs WHERE status IN ('done','failed')`).get() as {
            n: number;
          }
        ).n === 51,
      30_000,
      'all jobs to finish',
    );
    const runs = db
      .prepare(`SELECT job_id, count(*) AS n FROM job_runs WHERE outcome = 'done' GROUP BY job_id`)
      .all() as { job_id: number; n: number }[];
    expect(runs).toHaveLength(50);
    expect(runs.every((r) => r.n === 1)).toBe(true);
    expect(new Set(runs.map((r) => r.job_id))).toEqual(new Set(ids));
    const workersUsed = db.prepare(`SELECT DISTINCT worker FROM job_runs`).all() as {
      worker: string;
    }[];
    expect(workersUsed.map((w) => w.worker).sort()).toEqual(['w1', 'w2']);
    expect(await job(api.url, ids[0])).toMatchObject({ status: 'done', attempts: 2 });
    expect(await job(api.url, failing)).toMatchObject({ status: 'failed', attempts: 2 });
    expect(String((await job(api.url, failing)).lastError)).toContain('simulated email failure');
    // The queue's state, read at scrape time, and the readiness report's queue details.
    const text = await (await fetch(`${workers[0]!.url}/metrics`)).text();
    for (const [state, n] of Object.entries({
      waiting: 0,
      active: 0,
      delayed: 0,
      failed: 1,
      completed: 50,
      paused: 0,
    })) {
      expect(metric(text, `job_queue_jobs{queue="jobs",state="${state}"}`), state).toBe(n);
    }
    expect(metric(text, 'job_queue_oldest_waiting_age_seconds{queue="jobs"}')).toBe(0);
    const ready = (await (await fetch(`${workers[1]!.url}/health/ready`)).json()) as {
      checks: Record<string, { status: string; details?: unknown }>;
    };
    expect(ready.checks.queue).toMatchObject({
      status: 'healthy',
      details: { waiting: 0, active: 0, failed: 1 },
    });
    for (const w of workers) w.child.kill('SIGTERM');
    expect(await Promise.all(workers.map((w) => w.exited))).toEqual([0, 0]);
  }, 60_000);

  it('a job waiting behind a long one shows as consumer lag in seconds', async () => {
    const env = { DATA_DIR: dataDir(), POLL_MS: '20' };
    const api = await startApp('api', env);
    const worker = await startApp('worker', env);
    const long = await postJob(api.url, { type: 'report', payload: { durationMs: 2500 } });
    await waitFor(
      async () => (await job(api.url, long.json.id)).status === 'running',
      10_000,
      'the long job to start',
    );
    await postJob(api.url, { type: 'email' });
    // The lag is the waiting job's age: read until it is over a second old.
    let text = '';
    await waitFor(
      async () => {
        text = await (await fetch(`${worker.url}/metrics`)).text();
        return (metric(text, 'job_queue_oldest_waiting_age_seconds{queue="jobs"}') ?? 0) > 1;
      },
      5000,
      'a lag over a second',
    );
    expect(metric(text, 'job_queue_jobs{queue="jobs",state="active"}')).toBe(1);
    expect(metric(text, 'job_queue_jobs{queue="jobs",state="waiting"}')).toBe(1);
    expect(metric(text, 'job_queue_depth{queue="jobs"}')).toBe(1);
    const lag = metric(text, 'job_queue_oldest_waiting_age_seconds{queue="jobs"}') ?? 0;
    expect(lag).toBeGreaterThan(1);
    expect(lag).toBeLessThan(5);
    const ready = (await (await fetch(`${worker.url}/health/ready`)).json()) as {
      checks: Record<string, { details?: unknown }>;
    };
    expect(ready.checks.queue?.details).toEqual({ waiting: 1, active: 1, failed: 0 });
  }, 30_000);
});
