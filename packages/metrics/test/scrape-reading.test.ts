import { logSink } from '@obskit/test-support';
import { createLogger } from '@obskit/core';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createJobMetrics, type QueueStats } from '../src/index.js';

// Readings taken at scrape time never hold up /metrics: one that hangs or fails leaves its
// series out of that scrape, is counted and said once, and comes back when it answers again.
describe('scrape-time readings', () => {
  it('leave a hanging or failing queue out, in time, counted and said once, and recover', async () => {
    const registry = new Registry();
    const sink = logSink();
    const logger = createLogger({ service: 't', destination: sink.stream });
    let hang = true;
    let fail = true;
    createJobMetrics({ registry, queue: 'healthy', queueStats: () => ({ waiting: 2, active: 1 }) });
    createJobMetrics({
      registry,
      queue: 'stuck',
      scrapeTimeoutMs: 200,
      logger,
      queueStats: () =>
        hang ? new Promise<QueueStats>(() => {}) : Promise.resolve({ waiting: 7 }),
    });
    createJobMetrics({
      registry,
      queue: 'broken',
      logger,
      queueStats: () => {
        if (fail) throw new Error('redis is gone');
        return { waiting: 3 };
      },
    });
    for (let scrape = 0; scrape < 2; scrape++) {
      const started = performance.now();
      const text = await registry.metrics();
      // Well within a scrape timeout, whatever the stuck reading does.
      expect(performance.now() - started).toBeLessThan(2000);
      expect(text).toContain('job_queue_jobs{queue="healthy",state="waiting"} 2');
      expect(text).toContain('job_queue_depth{queue="healthy"} 2');
      expect(text).not.toMatch(/job_queue_(jobs|depth)\{queue="(stuck|broken)"/);
      expect(text).toContain(
        `obskit_scrape_errors_total{source="job_queue",name="stuck",reason="timeout"} ${scrape + 1}`,
      );
      expect(text).toContain(
        `obskit_scrape_errors_total{source="job_queue",name="broken",reason="error"} ${scrape + 1}`,
      );
      expect(text).toContain(
        'obskit_scrape_errors_total{source="job_queue",name="healthy",reason="timeout"} 0',
      );
    }
    const warned = () => sink.lines().filter((l) => l.level === 'warn');
    expect(warned().map((l) => [l.name, l.reason])).toEqual([
      ['broken', 'error'],
      ['stuck', 'timeout'],
    ]);
    expect(String(warned()[0]?.msg)).toContain('jobs.queueStats (broken) failed: redis is gone');
    expect(String(warned()[1]?.msg)).toContain('jobs.queueStats (stuck) did not answer');

    hang = false;
    fail = false;
    const text = await registry.metrics();
    expect(text).toContain('job_queue_jobs{queue="stuck",state="waiting"} 7');
    expect(text).toContain('job_queue_jobs{queue="broken",state="waiting"} 3');
    const recovered = warned().slice(2);
    expect(recovered.map((l) => l.name).sort()).toEqual(['broken', 'stuck']);
    expect(String(recovered[0]?.msg)).toContain('answers again');
    await registry.metrics();
    expect(warned()).toHaveLength(4);
  });

  it('rejects a bad scrapeTimeoutMs', () => {
    expect(() =>
      createJobMetrics({ registry: new Registry(), queue: 'q', scrapeTimeoutMs: 0 }),
    ).toThrow(/jobs.scrapeTimeoutMs/);
  });
});
