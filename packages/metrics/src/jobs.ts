import {
  bucketsOption,
  invalidOption,
  optionFunction,
  optionNumber,
  optionObject,
  optionString,
  type WarnLogger,
} from '@obskit/core/internal';
import { Registry } from 'prom-client';
import { getOrCreateCounter, getOrCreateGauge, getOrCreateHistogram } from './registry.js';
import {
  DEFAULT_SCRAPE_READING_TIMEOUT_MS,
  readingGauge as readGauge,
  registerScrapeErrors,
  scrapeReading,
  type GaugeReaders as Readers,
} from './scrape-reading.js';

export type JobStatus = 'success' | 'failure';

/** A queue's state, as a queue can tell it at scrape time (each field optional). */
export interface QueueStats {
  waiting?: number;
  active?: number;
  delayed?: number;
  failed?: number;
  completed?: number;
  paused?: number;
  /** How long the oldest waiting job has waited, in seconds: the consumer lag (0 when none). */
  oldestWaitingAgeSeconds?: number;
}

/** The states of `job_queue_jobs{queue,state}`. */
export const QUEUE_STATES = Object.freeze([
  'waiting',
  'active',
  'delayed',
  'failed',
  'completed',
  'paused',
] as const);

export interface JobMetricsOptions {
  registry?: Registry;
  /** The queue label. */
  queue: string;
  /** Read at scrape time for `job_queue_depth{queue}`. */
  queueDepth?: () => number | Promise<number>;
  /**
   * Read at scrape time for `job_queue_jobs{queue,state}` and
   * `job_queue_oldest_waiting_age_seconds{queue}` (and `job_queue_depth`, from `waiting`, when
   * `queueDepth` is not given).
   */
  queueStats?: () => QueueStats | Promise<QueueStats>;
  /** Duration buckets in seconds. Default 10 ms to 10 min. */
  buckets?: number[];
  prefix?: string;
  /**
   * How long `queueStats` / `queueDepth` may take at scrape time before their series are left
   * out of that scrape (counted in `obskit_scrape_errors_total`). Default 1000 ms.
   */
  scrapeTimeoutMs?: number;
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
  /** Times `fn` as a step of a job timed elsewhere (from a queue's events). */
  step<T>(step: string, fn: () => T | Promise<T>): Promise<T>;
  /**
   * Stops reading this queue at scrape time: its `job_queue_*` series leave `/metrics` (the
   * counters and histograms of finished jobs stay). Idempotent.
   */
  close(): void;
}

export const DEFAULT_JOB_BUCKETS: readonly number[] = Object.freeze([
  0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600,
]);

const finite = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n);

/**
 * `jobs_total`, `job_duration_seconds`, `jobs_in_progress`, `job_step_duration_seconds`, and, read
 * at scrape time, `job_queue_depth`, `job_queue_jobs{queue,state}` and
 * `job_queue_oldest_waiting_age_seconds`.
 */
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
  const buckets = bucketsOption(options.buckets, 'jobs.buckets', DEFAULT_JOB_BUCKETS);

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
  const logger = options.logger;
  const queueStats = optionFunction<() => QueueStats | Promise<QueueStats>>(
    options.queueStats,
    'jobs.queueStats',
  );
  const scrapeTimeoutMs = optionNumber(
    options.scrapeTimeoutMs,
    'jobs.scrapeTimeoutMs',
    DEFAULT_SCRAPE_READING_TIMEOUT_MS,
    { min: 1 },
  );
  const reading = {
    registry,
    source: 'job_queue',
    name: queue,
    timeoutMs: scrapeTimeoutMs,
    logger,
  };
  const stats =
    queueStats === undefined
      ? undefined
      : scrapeReading(queueStats, { ...reading, path: 'jobs.queueStats' });
  const depth =
    queueDepth !== undefined
      ? scrapeReading(queueDepth, { ...reading, path: 'jobs.queueDepth' })
      : stats === undefined
        ? undefined
        : async () => (await stats())?.waiting;
  // The readers this helper put on the shared gauges, for close().
  const registered: [Map<string, unknown>, unknown][] = [];
  const keep = <T>(readers: Readers<T>, read: () => Promise<T | undefined>): void => {
    readers.set(queue, read);
    registered.push([readers, read]);
  };
  if (depth !== undefined) {
    keep(
      readGauge<number>(
        registry,
        `${prefix}job_queue_depth`,
        'Jobs waiting in the queue, read at scrape time.',
        ['queue'],
        (gauge, name, value) => {
          if (finite(value)) gauge.set({ queue: name }, value);
        },
      ),
      depth,
    );
  }
  if (stats !== undefined) {
    keep(
      readGauge<QueueStats>(
        registry,
        `${prefix}job_queue_jobs`,
        'Jobs in the queue by state (waiting, active, delayed, failed, completed, paused), read at scrape time.',
        ['queue', 'state'],
        (gauge, name, value) => {
          for (const state of QUEUE_STATES) {
            const n = value[state];
            if (finite(n)) gauge.set({ queue: name, state }, n);
          }
        },
      ),
      stats,
    );
    keep(
      readGauge<QueueStats>(
        registry,
        `${prefix}job_queue_oldest_waiting_age_seconds`,
        'How long the oldest waiting job has waited, in seconds (consumer lag), read at scrape time.',
        ['queue'],
        (gauge, name, value) => {
          if (finite(value.oldestWaitingAgeSeconds)) {
            gauge.set({ queue: name }, value.oldestWaitingAgeSeconds);
          }
        },
      ),
      stats,
    );
  }
  if (depth !== undefined) registerScrapeErrors(registry, 'job_queue', queue);
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

  const stepOnly = async <T>(step: string, fn: () => T | Promise<T>): Promise<T> => {
    const started = performance.now();
    let status: JobStatus = 'success';
    try {
      return await fn();
    } catch (error) {
      status = 'failure';
      throw error;
    } finally {
      steps.observe({ queue, step, status }, (performance.now() - started) / 1000);
    }
  };

  return {
    registry,
    queue,
    startJob,
    step: stepOnly,
    close() {
      for (const [readers, read] of registered.splice(0)) {
        if (readers.get(queue) === read) readers.delete(queue);
      }
    },
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
