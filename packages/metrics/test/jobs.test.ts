import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createJobMetrics } from '../src/index.js';
import { parseMetrics } from './support.js';

describe('job metrics', () => {
  it('times jobs and steps, success and failure, and reads queue depth at scrape time', async () => {
    const registry = new Registry();
    let depth = 3;
    const jobs = createJobMetrics({ registry, queue: 'emails', queueDepth: () => depth });
    await jobs.run(async (job) => {
      await job.step('render', async () => 'html');
      await job.step('send', () => 'sent');
    });
    await expect(
      jobs.run(async (job) => {
        await job.step('render', () => {
          throw new Error('template missing');
        });
      }),
    ).rejects.toThrow('template missing');
    const manual = jobs.startJob();
    const inProgress = parseMetrics(await registry.metrics()).find(
      (s) => s.name === 'jobs_in_progress',
    );
    expect(inProgress?.value).toBe(1);
    manual.end('success');
    manual.end('failure');

    depth = 7;
    const samples = parseMetrics(await registry.metrics());
    const value = (name: string, labels: Record<string, string>) =>
      samples.find(
        (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
      )?.value;
    expect(value('jobs_total', { queue: 'emails', status: 'success' })).toBe(2);
    expect(value('jobs_total', { queue: 'emails', status: 'failure' })).toBe(1);
    expect(value('job_duration_seconds_count', { queue: 'emails', status: 'success' })).toBe(2);
    expect(value('job_step_duration_seconds_count', { step: 'render', status: 'success' })).toBe(1);
    expect(value('job_step_duration_seconds_count', { step: 'render', status: 'failure' })).toBe(1);
    expect(value('job_step_duration_seconds_count', { step: 'send', status: 'success' })).toBe(1);
    expect(value('jobs_in_progress', { queue: 'emails' })).toBe(0);
    expect(value('job_queue_depth', { queue: 'emails' })).toBe(7);
  });

  it('shares one registry between queues without "already registered"', async () => {
    const registry = new Registry();
    createJobMetrics({ registry, queue: 'a', queueDepth: () => 1 });
    const b = createJobMetrics({ registry, queue: 'b', queueDepth: () => 2 });
    await b.run(() => undefined);
    const samples = parseMetrics(await registry.metrics()).filter(
      (s) => s.name === 'job_queue_depth',
    );
    expect(samples.map((s) => [s.labels.queue, s.value])).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect(() => createJobMetrics({ queue: '' })).toThrow('jobs.queue must be a non-empty string');
  });
});

describe('queue state', () => {
  it('reads every queue state and the consumer lag at scrape time, once per scrape', async () => {
    const registry = new Registry();
    let reads = 0;
    const stats = { waiting: 4, active: 1, delayed: 2, failed: 3, completed: 10, paused: 0 };
    createJobMetrics({
      registry,
      queue: 'emails',
      queueStats: async () => {
        reads++;
        return { ...stats, oldestWaitingAgeSeconds: 12.5 };
      },
    });
    const samples = parseMetrics(await registry.metrics());
    expect(reads).toBe(1);
    const byState = Object.fromEntries(
      samples.filter((s) => s.name === 'job_queue_jobs').map((s) => [s.labels.state, s.value]),
    );
    expect(byState).toEqual(stats);
    expect(samples.find((s) => s.name === 'job_queue_oldest_waiting_age_seconds')?.value).toBe(
      12.5,
    );
    // job_queue_depth follows `waiting` when no queueDepth is given.
    expect(samples.find((s) => s.name === 'job_queue_depth')?.value).toBe(4);
  });

  it('leaves a queue whose reader fails out of the scrape, and says so once', async () => {
    const registry = new Registry();
    const warnings: string[] = [];
    createJobMetrics({
      registry,
      queue: 'broken',
      logger: { warn: (_f, msg) => void warnings.push(msg) },
      queueStats: () => {
        throw new Error('redis down');
      },
    });
    createJobMetrics({ registry, queue: 'fine', queueStats: () => ({ waiting: 1 }) });
    await registry.metrics();
    const samples = parseMetrics(await registry.metrics());
    expect(samples.filter((s) => s.name === 'job_queue_jobs').map((s) => s.labels.queue)).toEqual([
      'fine',
    ]);
    expect(warnings).toEqual([
      'jobs.queueStats (broken) failed: redis down; its series are left out of /metrics until it answers (counted in obskit_scrape_errors_total; said once)',
    ]);
  });
});
