import type { PgJobStore } from '@obskit/api/pg-store';
import { bullmqWorkerMetrics, tracedProcessor, type JobLogger } from '@obskit/bullmq';
import type { JobMetrics } from '@obskit/metrics';
import { UnrecoverableError, Worker, type Job as BullJob } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { runSteps } from './worker.js';

export interface BullmqWorkerOptions {
  id: string;
  queue: string;
  store: PgJobStore;
  connection: Redis;
  registry: Registry;
  logger: JobLogger;
  /** Keeps the graceful shutdown waiting while a job runs. */
  hold: (name: string) => () => void;
  /** Jobs run at once by this worker. Default 1. */
  concurrency?: number;
}

/**
 * The scaled-out worker: jobs come from BullMQ (retries with exponential backoff are BullMQ's,
 * per the job's `attempts`), each attempt is recorded in PostgreSQL, and each runs under a
 * consumer span continuing the trace of the request that queued it (`tracedProcessor`).
 */
export function bullmqWorker(options: BullmqWorkerOptions): { worker: Worker; jobs: JobMetrics } {
  const { id, store, hold } = options;
  const processor = tracedProcessor(
    async (job: BullJob<{ id: number }>) => {
      const release = hold(`job ${job.id}`);
      try {
        const attempt = job.attemptsMade + 1;
        const record = await store.start(Number(job.data.id), attempt);
        if (record === undefined) {
          // Done already: BullMQ delivered it again (its worker died before BullMQ heard).
          const done = await store.get(Number(job.data.id));
          if (done?.status === 'done') return done.result;
          throw new UnrecoverableError(`job ${job.data.id} has no record in the database`);
        }
        try {
          const result = await runSteps(record, (name, fn) => jobs.step(name, fn));
          await store.finish(record, id, { done: true, result });
          return result;
        } catch (error) {
          const final = error instanceof UnrecoverableError || attempt >= (job.opts.attempts ?? 1);
          await store.finish(record, id, { done: false, error: (error as Error).message, final });
          throw error;
        }
      } finally {
        release();
      }
    },
    { logger: options.logger },
  );
  const worker = new Worker(options.queue, processor, {
    connection: options.connection,
    concurrency: options.concurrency ?? 1,
    autorun: false,
  });
  const jobs = bullmqWorkerMetrics(worker, { registry: options.registry });
  return { worker, jobs };
}
