import { join } from 'node:path';
import { addJob } from '@obskit/bullmq';
import { pgCheck, pgPoolMetrics } from '@obskit/pg';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import { PgJobStore } from './pg-store.js';
import { JobStore, type Job, type NewJob } from './store.js';

/** A readiness check as obskit's health options take it. */
export type Check = (() => unknown) | { critical?: boolean; check: () => unknown };

/** Where the API keeps its jobs: one SQLite file, or PostgreSQL with the queue on BullMQ. */
export interface JobBackend {
  readonly kind: 'sqlite' | 'postgres+bullmq';
  create(job: NewJob): Promise<number>;
  get(id: number): Promise<Job | undefined>;
  list(afterId: number, limit: number): Promise<Job[]>;
  lastHeartbeat(): Promise<Date | undefined>;
  /** Readiness checks of what the backend depends on. */
  checks(): Record<string, Check>;
  /** Metrics of the backend itself (the PostgreSQL pool). */
  instrument(registry: Registry): void;
  close(): Promise<void>;
}

export interface BackendEnv {
  DATA_DIR?: string;
  DATABASE_URL?: string;
  REDIS_URL?: string;
  /** The BullMQ queue's name. Default `jobs`. */
  QUEUE_NAME?: string;
}

/** The queue name both apps use. */
export const queueName = (env: BackendEnv): string => env.QUEUE_NAME || 'jobs';

/**
 * `DATABASE_URL` and `REDIS_URL` together select PostgreSQL + BullMQ; neither, the SQLite file in
 * `DATA_DIR`. One without the other is a mistake, said at startup.
 */
export function scaledOut(env: BackendEnv): boolean {
  const db = Boolean(env.DATABASE_URL);
  const redis = Boolean(env.REDIS_URL);
  if (db !== redis) {
    throw new Error(
      `DATABASE_URL and REDIS_URL go together (PostgreSQL for the jobs, Redis for their queue); ${db ? 'REDIS_URL' : 'DATABASE_URL'} is not set. Unset both to use the SQLite file in DATA_DIR.`,
    );
  }
  return db;
}

/** A Redis connection for BullMQ from `REDIS_URL` (BullMQ's workers need `maxRetriesPerRequest: null`). */
export function redisConnection(url: string, options: { worker?: boolean } = {}): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: options.worker ? null : 1,
    // A producer fails fast while Redis is away, instead of holding the request.
    enableOfflineQueue: Boolean(options.worker),
    lazyConnect: true,
  });
  redis.on('error', () => undefined); // reconnects on its own; readiness reports the outage
  return redis;
}

export async function openBackend(env: BackendEnv): Promise<JobBackend> {
  if (!scaledOut(env))
    return sqliteBackend(new JobStore(join(env.DATA_DIR ?? 'data', 'jobs.sqlite')));
  const store = await PgJobStore.open(env.DATABASE_URL!);
  const redis = redisConnection(env.REDIS_URL!);
  try {
    await redis.connect();
  } catch (error) {
    await store.close();
    throw new Error(`Redis at REDIS_URL is not reachable: ${(error as Error).message}`);
  }
  return bullmqBackend(store, new Queue(queueName(env), { connection: redis }), redis);
}

function sqliteBackend(store: JobStore): JobBackend {
  return {
    kind: 'sqlite',
    create: async (job) => store.create(job),
    get: async (id) => store.get(id),
    list: async (afterId, limit) => store.list(afterId, limit),
    lastHeartbeat: async () => store.lastHeartbeat(),
    checks: () => ({ database: () => store.ping() }),
    instrument: () => undefined,
    close: async () => store.close(),
  };
}

function bullmqBackend(store: PgJobStore, queue: Queue, redis: Redis): JobBackend {
  let closing: Promise<void> | undefined;
  return {
    kind: 'postgres+bullmq',
    async create(job) {
      const id = await store.create(job);
      try {
        // The job's id in BullMQ comes from its row's (BullMQ takes no integer ids): adding it twice
        // is a no-op, never a second run.
        // Under a producer span: the worker's consumer span is its child.
        await addJob(queue, job.type, { id }, {
          jobId: `job-${id}`,
          attempts: job.maxAttempts ?? 3,
          backoff: { type: 'exponential', delay: 500 },
          removeOnComplete: { count: 10_000 },
          removeOnFail: { count: 10_000 },
        });
      } catch (error) {
        // The client gets a 500; the row says why no worker will ever run it.
        await store
          .fail(id, `could not be queued: ${(error as Error).message}`)
          .catch(() => undefined);
        throw error;
      }
      return id;
    },
    get: (id) => store.get(id),
    list: (afterId, limit) => store.list(afterId, limit),
    lastHeartbeat: () => store.lastHeartbeat(),
    checks: () => ({
      database: pgCheck(store.pool),
      queue: async () => {
        await redis.ping();
      },
    }),
    instrument: (registry) => {
      pgPoolMetrics(store.pool, { registry, poolName: 'api' });
    },
    close: () =>
      (closing ??= (async () => {
        await queue.close();
        redis.disconnect();
        await store.close();
      })()),
  };
}
