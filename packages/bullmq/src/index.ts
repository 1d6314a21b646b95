import {
  getRequestContext,
  guardCallback,
  optionObject,
  type WarnLogger,
} from '@obskit/core/internal';
import { createJobMetrics, type JobMetrics, type QueueStats } from '@obskit/metrics';
import {
  injectTraceContext,
  runWithTraceContext,
  withSpan,
  type JobErrorInfo,
  type TraceCarrier,
} from '@obskit/tracing';
import { SpanKind } from '@opentelemetry/api';
import type { Registry } from 'prom-client';

/** Where obskit keeps a job's trace context and request id in its data. */
export const JOB_CONTEXT_KEY = '_obskit';

/** What rides in a job's data: the producing request's trace context and request id. */
export interface JobContext {
  trace?: TraceCarrier;
  reqId?: string;
}

/** The parts of a BullMQ `Job` obskit reads. */
export interface JobLike {
  id?: string;
  name: string;
  queueName: string;
  data: unknown;
  attemptsMade: number;
  timestamp: number;
}

/** The parts of a BullMQ `Queue` obskit reads at scrape time. */
export interface QueueLike {
  name: string;
  getJobCounts(...states: string[]): Promise<Record<string, number>>;
  getWaiting(start?: number, end?: number): Promise<{ timestamp: number; delay?: number }[]>;
}

/** The parts of a BullMQ `Worker` whose events obskit counts. */
export interface WorkerLike {
  name: string;
  on(event: 'active', listener: (job: JobLike) => void): unknown;
  on(event: 'completed', listener: (job: JobLike) => void): unknown;
  on(event: 'failed', listener: (job: JobLike | undefined, error: Error) => void): unknown;
  on(event: 'stalled', listener: (jobId: string, prev: string) => void): unknown;
  on(event: 'closed', listener: () => void): unknown;
  off?(event: string, listener: (...args: never[]) => void): unknown;
}

// One set of listeners per worker, whatever the number of registrations.
const workerMetrics = new WeakMap<object, JobMetrics>();

// Attempts timed at once by one worker, at most: past it the oldest is ended as a failure (an
// attempt whose end never came), so the map never grows without bound.
const MAX_TIMED_ATTEMPTS = 10_000;

/**
 * `data` with the current trace context and request id under `_obskit`, for `queue.add()` inside
 * a request: the worker continues the trace and its log lines carry the request id.
 */
export function withJobContext<T extends object>(data: T): T & { [JOB_CONTEXT_KEY]: JobContext } {
  const reqId = getRequestContext()?.reqId;
  return {
    ...data,
    [JOB_CONTEXT_KEY]: { trace: injectTraceContext(), ...(reqId === undefined ? {} : { reqId }) },
  };
}

/** The part of a BullMQ `Queue` that `addJob` calls. */
export interface AddableQueue<R> {
  readonly name: string;
  add(name: string, data: never, opts?: never): Promise<R>;
}

/**
 * `queue.add(name, data, opts)` under a PRODUCER span `send <queue>` (`messaging.system=bullmq`,
 * `messaging.destination.name`, `messaging.message.id` once added), a child of the active span,
 * with that span's trace context and the request id in the job's data (`withJobContext`): the
 * worker's consumer span (`tracedProcessor`) is its child, and a failed add is an error span.
 */
export async function addJob<D extends object, O, R extends { id?: string | undefined }>(
  queue: AddableQueue<R> & { add(name: string, data: D, opts?: O): Promise<R> },
  name: string,
  data: D,
  opts?: O,
): Promise<R> {
  return withSpan(
    `send ${queue.name}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system': 'bullmq',
        'messaging.operation.name': 'send',
        'messaging.operation.type': 'send',
        'messaging.destination.name': queue.name,
        'job.name': name,
      },
    },
    async (span) => {
      const job = await queue.add(name, withJobContext(data), opts);
      if (typeof job?.id === 'string') span.setAttribute('messaging.message.id', job.id);
      return job;
    },
  );
}

/** The trace context and request id a job carries, if a producer put them there. */
export function jobContextOf(job: { data: unknown }): JobContext {
  const data = job.data as Record<string, unknown> | null;
  const value = data !== null && typeof data === 'object' ? data[JOB_CONTEXT_KEY] : undefined;
  if (value === null || typeof value !== 'object') return {};
  const { trace, reqId } = value as JobContext;
  return {
    ...(trace !== null && typeof trace === 'object' ? { trace } : {}),
    ...(typeof reqId === 'string' ? { reqId } : {}),
  };
}

/** A BullMQ queue's state for `job_queue_jobs` and the consumer lag, in two Redis reads. */
export function bullmqQueueStats(queue: QueueLike): () => Promise<QueueStats> {
  return async () => {
    const [counts, oldest] = await Promise.all([
      queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'paused'),
      queue.getWaiting(0, 0),
    ]);
    const first = oldest[0];
    return {
      waiting: counts.waiting,
      active: counts.active,
      delayed: counts.delayed,
      failed: counts.failed,
      completed: counts.completed,
      paused: counts.paused,
      // A delayed job waits from when it became ready (created + its delay), not from its creation.
      oldestWaitingAgeSeconds:
        first === undefined
          ? 0
          : Math.max(0, (Date.now() - first.timestamp - (first.delay ?? 0)) / 1000),
    };
  };
}

export interface QueueMetricsOptions {
  registry: Registry;
  /**
   * How long the Redis reads may take at a scrape before the queue's series are left out of it
   * (counted in `obskit_scrape_errors_total{source="job_queue"}`): a queue on an unreachable
   * Redis never holds up `/metrics`. Default 1000 ms.
   */
  scrapeTimeoutMs?: number;
  /** Where a failing scrape-time read is reported (once, at warn, and once when it recovers). */
  logger?: WarnLogger;
}

/**
 * Scrape-time metrics of a BullMQ queue, read from Redis when Prometheus scrapes:
 * `job_queue_jobs{queue,state}`, `job_queue_oldest_waiting_age_seconds{queue}` and
 * `job_queue_depth{queue}`. Nothing is done per job.
 */
export function bullmqQueueMetrics(queue: QueueLike, options: QueueMetricsOptions): JobMetrics {
  optionObject(options, 'bullmq');
  return createJobMetrics({
    registry: options.registry,
    queue: queue.name,
    queueStats: bullmqQueueStats(queue),
    ...(options.scrapeTimeoutMs === undefined ? {} : { scrapeTimeoutMs: options.scrapeTimeoutMs }),
    ...(options.logger === undefined ? {} : { logger: options.logger }),
  });
}

export interface WorkerMetricsOptions {
  registry: Registry;
  /** Job duration buckets in seconds. */
  buckets?: number[];
}

/**
 * Worker metrics from a BullMQ worker's events: `jobs_in_progress{queue}` between `active` and
 * `completed`/`failed`, `jobs_total{queue,status}` (`success`, `failure`: each failed attempt,
 * retried or not, stalled, or cut by a forced close) and `job_duration_seconds{queue,status}`.
 * A second call for the same worker returns the first handle (no listener is added twice);
 * `close()` removes every listener. Returns the job metrics, whose
 * `step(name, fn)` times `job_step_duration_seconds` inside a processor.
 */
export function bullmqWorkerMetrics(worker: WorkerLike, options: WorkerMetricsOptions): JobMetrics {
  optionObject(options, 'bullmq');
  const existing = workerMetrics.get(worker);
  if (existing !== undefined) return existing;
  const jobs = createJobMetrics({
    registry: options.registry,
    queue: worker.name,
    ...(options.buckets === undefined ? {} : { buckets: options.buckets }),
  });
  // One attempt of a job is active in one worker at a time: its timer is keyed by the job id.
  const timers = new Map<string, ReturnType<JobMetrics['startJob']>>();
  const end = (key: string | undefined, status: 'success' | 'failure'): void => {
    if (key === undefined) return;
    const timer = timers.get(key);
    timers.delete(key);
    timer?.end(status);
  };
  const onActive = (job: JobLike): void => {
    if (job.id === undefined) return;
    // A job seen active again before its end (its lock was lost and it came back): the earlier
    // attempt failed.
    end(job.id, 'failure');
    if (timers.size >= MAX_TIMED_ATTEMPTS) end(timers.keys().next().value, 'failure');
    timers.set(job.id, jobs.startJob());
  };
  const onCompleted = (job: JobLike): void => end(job?.id, 'success');
  const onFailed = (job: JobLike | undefined): void => end(job?.id, 'failure');
  // Its lock expired (a blocked event loop, a crash elsewhere): the attempt is lost, and BullMQ
  // moves the job back to wait (or fails it past maxStalledCount, which 'failed' reports).
  const onStalled = (jobId: string): void => end(jobId, 'failure');
  // Closed (force-closed with attempts running): what is left ended, the gauge back to 0.
  const onClosed = (): void => {
    for (const key of [...timers.keys()]) end(key, 'failure');
  };
  worker.on('active', onActive);
  worker.on('completed', onCompleted);
  worker.on('failed', onFailed);
  worker.on('stalled', onStalled);
  worker.on('closed', onClosed);
  const handle: JobMetrics = {
    ...jobs,
    close() {
      // Every listener removed, the attempts still timed ended, the registration forgotten.
      worker.off?.('active', onActive as never);
      worker.off?.('completed', onCompleted as never);
      worker.off?.('failed', onFailed as never);
      worker.off?.('stalled', onStalled as never);
      worker.off?.('closed', onClosed as never);
      onClosed();
      jobs.close();
      if (workerMetrics.get(worker) === handle) workerMetrics.delete(worker);
    },
  };
  workerMetrics.set(worker, handle);
  return handle;
}

/** The logger a traced processor writes its job lines to. */
export interface JobLogger {
  info(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

export interface TracedProcessorOptions {
  /** Where `job started`, `job done` and `job failed` go. */
  logger: JobLogger;
  /** Start a new trace linked to the producer's instead of continuing it. Default false. */
  link?: boolean;
  /** Called once per failed attempt (guarded); `sentryOnError(Sentry)` fits. */
  onError?: (err: unknown, info: JobErrorInfo) => void;
}

/**
 * Wraps a BullMQ processor: each attempt runs under a CONSUMER span that continues the trace of
 * the request that added the job (`withJobContext`), with the job's `reqId` in the request
 * context, and writes `job started`, `job done` and `job failed` lines with `jobId`, `queue`,
 * `attempt`, `reqId` and the trace ids.
 */
export function tracedProcessor<J extends JobLike, R>(
  processor: (job: J, ...rest: unknown[]) => Promise<R> | R,
  options: TracedProcessorOptions,
): (job: J, ...rest: unknown[]) => Promise<R> {
  optionObject(options, 'tracedProcessor');
  const { logger } = options;
  const onError =
    options.onError === undefined
      ? undefined
      : guardCallback(options.onError, 'tracedProcessor.onError', undefined);
  return (job, ...rest) => {
    const { trace, reqId } = jobContextOf(job);
    const fields = { jobId: job.id, queue: job.queueName, attempt: job.attemptsMade + 1 };
    return runWithTraceContext(
      trace,
      `${job.queueName} process`,
      async () => {
        logger.info(fields, 'job started');
        try {
          const result = await processor(job, ...rest);
          logger.info(fields, 'job done');
          return result;
        } catch (error) {
          logger.error({ ...fields, err: error }, 'job failed');
          throw error;
        }
      },
      {
        ...(options.link === undefined ? {} : { link: options.link }),
        ...(reqId === undefined ? {} : { reqId }),
        ...(onError === undefined ? {} : { onError }),
        attributes: {
          'messaging.system': 'bullmq',
          'messaging.operation.type': 'process',
          'messaging.destination.name': job.queueName,
          ...(job.id === undefined ? {} : { 'messaging.message.id': job.id }),
          'job.attempt': job.attemptsMade + 1,
        },
      },
    );
  };
}
