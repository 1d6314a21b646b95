import type { Job, JobStore } from '@obskit/api/store';
import type { Logger } from '@obskit/core';
import type { JobMetrics } from '@obskit/metrics';
import { runWithTraceContext, withSpan } from '@obskit/tracing';

export interface WorkerOptions {
  id: string;
  store: JobStore;
  jobs: JobMetrics;
  logger: Logger;
  /** Keeps the graceful shutdown waiting while a job runs. */
  hold: (name: string) => () => void;
  /** How long a claimed job stays ours; a crashed worker's job is reclaimed after it. */
  leaseMs?: number;
  pollMs?: number;
  /** First retry delay; doubles per attempt. */
  backoffMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Times a named step of a job (`job_step_duration_seconds`). */
export type Step = <T>(name: string, fn: () => T | Promise<T>) => Promise<T>;

/**
 * The work of a job, as named steps, each timed and under a span of its own. `payload.durationMs`
 * and `payload.fail` (true, or how many attempts fail) steer the demo.
 */
export async function runSteps(job: Job, step: Step): Promise<unknown> {
  const payload = (job.payload ?? {}) as { durationMs?: number; fail?: boolean | number };
  await step('validate', () =>
    withSpan('validate', {}, () => {
      if (typeof payload !== 'object') throw new Error('payload must be an object');
    }),
  );
  const output = await step('process', () =>
    withSpan('process', { attributes: { 'job.type': job.type } }, async () => {
      await sleep(Math.min(Math.max(Number(payload.durationMs ?? 20), 0), 30_000));
      const failUntil = payload.fail === true ? Infinity : Number(payload.fail ?? 0);
      if (job.attempts <= failUntil)
        throw new Error(`simulated ${job.type} failure on attempt ${job.attempts}`);
      return { processed: job.type, attempt: job.attempts };
    }),
  );
  await step('store', () => withSpan('store', {}, () => undefined));
  return output;
}

/** Claims and runs jobs until `stop()`; the job in hand always finishes first. */
export class Worker {
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly options: WorkerOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops claiming; resolves when the current job is done. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    const { store, logger, id } = this.options;
    const pollMs = this.options.pollMs ?? 200;
    while (!this.stopped) {
      let job: Job | undefined;
      try {
        job = store.claim(id, this.options.leaseMs ?? 30_000);
      } catch (error) {
        logger.error({ err: error }, 'claiming a job failed');
      }
      if (job === undefined) {
        await sleep(pollMs);
        continue;
      }
      await this.process(job);
    }
  }

  private async process(job: Job): Promise<void> {
    const { store, logger, id, jobs } = this.options;
    const release = this.options.hold(`job ${job.id}`);
    const timer = jobs.startJob();
    try {
      await runWithTraceContext(
        job.trace,
        `job ${job.type}`,
        async () => {
          logger.info({ jobId: job.id, queue: 'jobs', attempt: job.attempts }, 'job started');
          try {
            const result = await runSteps(job, (name, fn) => timer.step(name, fn));
            if (!store.complete(job, id, result))
              logger.warn({ jobId: job.id }, 'job lease lost; result dropped');
            timer.end('success');
            logger.info({ jobId: job.id, queue: 'jobs', attempt: job.attempts }, 'job done');
          } catch (error) {
            timer.end('failure');
            const backoff = (this.options.backoffMs ?? 500) * 2 ** (job.attempts - 1);
            const status = store.fail(job, id, (error as Error).message, backoff);
            logger.warn(
              { jobId: job.id, attempt: job.attempts, status, err: error },
              status === 'failed' ? 'job failed for good' : 'job failed; will retry',
            );
            throw error;
          }
        },
        {
          attributes: { 'messaging.destination.name': 'jobs', 'job.id': job.id },
          // The request that made the job: its log lines carry that reqId.
          ...(job.requestId === null ? {} : { reqId: job.requestId }),
        },
      );
    } catch {
      // Recorded on the span and in the store above.
    } finally {
      release();
    }
  }
}
