import {
  guardAsyncCallback,
  invalidOption,
  optionFunction,
  optionObject,
  optionString,
  type WarnLogger,
} from '@obskit/core/internal';
import { Registry, type Gauge } from 'prom-client';
import { getOrCreateCounter, getOrCreateGauge, getOrCreateHistogram } from './registry.js';

export type JobStatus = 'success' | 'failure';

export interface JobMetricsOptions {
  registry?: Registry;
  /** The queue label. */
  queue: string;
  /** Read at scrape time for `job_queue_depth{queue}`. */
  queueDepth?: () => number | Promise<number>;
  /** Duration buckets in seconds. Default 10 ms to 10 min. */
  buckets?: number[];
  prefix?: string;
  /** Where a failing `queueDepth` is reported (once, at warn). Default: obskit's own logger. */
  logger?: WarnLogger;
}

export interface JobStep {
  /** Records the step once; later calls do nothing. */
  end(status: JobStatus): void;
}

export interface JobTimer {
  /** Starts timing a named step. */
  startStep(step: string): JobStep;
  /** Times `fn` as a step: `success` when it resolves, `failure` when it throws (rethrown). */
  step<T>(step: string, fn: () => T | Promise<T>): Promise<T>;
  /** Records the job once; later calls do nothing. */
  end(status: JobStatus): void;
}

export interface JobMetrics {
  readonly registry: Registry;
  readonly queue: string;
  /** Starts timing a job (`jobs_in_progress` +1 until `end`). */
  startJob(): JobTimer;
  /** Times `fn` as a whole job: `success` when it resolves, `failure` when it throws (rethrown). */
  run<T>(fn: (job: JobTimer) => T | Promise<T>): Promise<T>;
}

export const DEFAULT_JOB_BUCKETS: readonly number[] = Object.freeze([
  0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600,
]);

const kDepth = Symbol.for('obskit.metrics.queueDepth');
type DepthGauge = Gauge<'queue'> & { [kDepth]?: Map<string, () => Promise<number | undefined>> };

/** `jobs_total`, `job_duration_seconds`, `jobs_in_progress`, `job_step_duration_seconds`, `job_queue_depth`. */
export function createJobMetrics(options: JobMetricsOptions): JobMetrics {
  optionObject(options, 'jobs');
  if (options === undefined) throw invalidOption('jobs', 'an object', options);
  const queue = optionString(options.queue, 'jobs.queue');
  if (queue === undefined) throw invalidOption('jobs.queue', 'a non-empty string', undefined);
  const registry = options.registry ?? new Registry();
  const prefix = optionString(options.prefix, 'jobs.prefix', '');
  const queueDepth = optionFunction<() => number | Promise<number>>(
    options.queueDepth,
    'jobs.queueDepth',
  );
  const buckets = options.buckets ?? [...DEFAULT_JOB_BUCKETS];
  if (
    !Array.isArray(buckets) ||
    buckets.length === 0 ||
    buckets.some((b) => typeof b !== 'number' || !(b > 0))
  ) {
    throw invalidOption('jobs.buckets', 'a non-empty array of positive numbers', options.buckets);
  }

  const total = getOrCreateCounter(registry, {
    name: `${prefix}jobs_total`,
    help: 'Jobs finished, by queue and status.',
    labelNames: ['queue', 'status'],
  });
  const duration = getOrCreateHistogram(registry, {
    name: `${prefix}job_duration_seconds`,
    help: 'Job duration in seconds, by queue and status.',
    labelNames: ['queue', 'status'],
    buckets,
  });
  const inProgress = getOrCreateGauge(registry, {
    name: `${prefix}jobs_in_progress`,
    help: 'Jobs being processed now, by queue.',
    labelNames: ['queue'],
  });
  const steps = getOrCreateHistogram(registry, {
    name: `${prefix}job_step_duration_seconds`,
    help: 'Job step duration in seconds, by queue, step and status.',
    labelNames: ['queue', 'step', 'status'],
    buckets,
  });
  if (queueDepth !== undefined) {
    const depth = getOrCreateGauge(registry, {
      name: `${prefix}job_queue_depth`,
      help: 'Jobs waiting in the queue, read at scrape time.',
      labelNames: ['queue'],
      async collect(this: Gauge<'queue'>) {
        const readers = (this as DepthGauge)[kDepth];
        if (readers === undefined) return;
        // A failing reader (reported once) leaves the last value; the scrape goes on.
        for (const [name, read] of readers) {
          const value = await read();
          if (typeof value === 'number' && Number.isFinite(value)) this.set({ queue: name }, value);
        }
      },
    }) as DepthGauge;
    (depth[kDepth] ??= new Map()).set(
      queue,
      guardAsyncCallback(queueDepth, 'jobs.queueDepth', undefined, options.logger),
    );
  }
  inProgress.set({ queue }, 0);

  const startJob = (): JobTimer => {
    const started = performance.now();
    inProgress.inc({ queue });
    let ended = false;
    const startStep = (step: string): JobStep => {
      const stepStart = performance.now();
      let done = false;
      return {
        end(status) {
          if (done) return;
          done = true;
          steps.observe({ queue, step, status }, (performance.now() - stepStart) / 1000);
        },
      };
    };
    return {
      startStep,
      async step(step, fn) {
        const timer = startStep(step);
        try {
          const result = await fn();
          timer.end('success');
          return result;
        } catch (error) {
          timer.end('failure');
          throw error;
        }
      },
      end(status) {
        if (ended) return;
        ended = true;
        inProgress.dec({ queue });
        total.inc({ queue, status });
        duration.observe({ queue, status }, (performance.now() - started) / 1000);
      },
    };
  };

  return {
    registry,
    queue,
    startJob,
    async run(fn) {
      const job = startJob();
      try {
        const result = await fn(job);
        job.end('success');
        return result;
      } catch (error) {
        job.end('failure');
        throw error;
      }
    },
  };
}
