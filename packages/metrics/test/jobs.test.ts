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
