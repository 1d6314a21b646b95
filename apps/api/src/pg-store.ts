import pg from 'pg';
import type { Job, JobStatus, NewJob } from './store.js';

interface Row {
  id: string;
  type: string;
  payload: unknown;
  status: JobStatus;
  attempts: number;
  max_attempts: number;
  request_id: string | null;
  trace: Record<string, string> | null;
  result: unknown;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
}

const toJob = (row: Row): Job => ({
  id: Number(row.id),
  type: row.type,
  payload: row.payload,
  status: row.status,
  attempts: row.attempts,
  maxAttempts: row.max_attempts,
  requestId: row.request_id,
  trace: row.trace,
  result: row.result,
  lastError: row.last_error,
  createdAt: row.created_at.toISOString(),
  updatedAt: row.updated_at.toISOString(),
});

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id BIGSERIAL PRIMARY KEY,
  type TEXT NOT NULL,
  payload JSONB NOT NULL,
  status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued','running','done','failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL DEFAULT 3,
  request_id TEXT,
  trace JSONB,
  result JSONB,
  last_error TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS job_runs (
  id BIGSERIAL PRIMARY KEY,
  job_id BIGINT NOT NULL REFERENCES jobs(id),
  worker TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  finished_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS workers (
  id TEXT PRIMARY KEY,
  heartbeat_at TIMESTAMPTZ NOT NULL
);
`;

// Any constant: the apps that start together take turns creating the schema.
const SCHEMA_LOCK = 7_412_023;

/**
 * The demo's job records on PostgreSQL, for when it scales out: the API writes a job here and
 * queues its id on BullMQ; workers record each attempt. The queue itself (order, retries, leases)
 * is BullMQ's, so this store only keeps what a client can read back with `GET /jobs/:id`.
 */
export class PgJobStore {
  private constructor(readonly pool: pg.Pool) {}

  /** Connects and creates the tables (once, under an advisory lock, however many apps start). */
  static async open(connectionString: string, max = 10): Promise<PgJobStore> {
    const pool = new pg.Pool({ connectionString, max, connectionTimeoutMillis: 5000 });
    pool.on('error', () => undefined); // an idle client's lost connection; the next query reconnects
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
      await client.query(SCHEMA);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      client.release();
      await pool.end();
      throw error;
    }
    client.release();
    return new PgJobStore(pool);
  }

  async create(job: NewJob): Promise<number> {
    const { rows } = await this.pool.query<{ id: string }>(
      `INSERT INTO jobs (type, payload, max_attempts, request_id, trace)
       VALUES ($1, $2, $3, $4, $5) RETURNING id`,
      [
        job.type,
        JSON.stringify(job.payload ?? {}),
        job.maxAttempts ?? 3,
        job.requestId ?? null,
        job.trace ? JSON.stringify(job.trace) : null,
      ],
    );
    return Number(rows[0]!.id);
  }

  async get(id: number): Promise<Job | undefined> {
    const { rows } = await this.pool.query<Row>('SELECT * FROM jobs WHERE id = $1', [id]);
    return rows[0] && toJob(rows[0]);
  }

  async list(afterId: number, limit: number): Promise<Job[]> {
    const { rows } = await this.pool.query<Row>(
      'SELECT * FROM jobs WHERE id > $1 ORDER BY id LIMIT $2',
      [afterId, limit],
    );
    return rows.map(toJob);
  }

  /**
   * Marks attempt `attempt` of a job as running; the job, or undefined when it is unknown or
   * already done (a job BullMQ delivers again after its worker died between the two).
   */
  async start(id: number, attempt: number): Promise<Job | undefined> {
    const { rows } = await this.pool.query<Row>(
      `UPDATE jobs SET status = 'running', attempts = $2, updated_at = now()
       WHERE id = $1 AND status <> 'done' RETURNING *`,
      [id, attempt],
    );
    return rows[0] && toJob(rows[0]);
  }

  /** Records a finished attempt and the job's new state, in one transaction. */
  async finish(
    job: Job,
    worker: string,
    outcome: { done: true; result: unknown } | { done: false; error: string; final: boolean },
  ): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      if (outcome.done) {
        await client.query(
          `UPDATE jobs SET status = 'done', result = $2, updated_at = now() WHERE id = $1`,
          [job.id, JSON.stringify(outcome.result ?? null)],
        );
      } else {
        await client.query(
          `UPDATE jobs SET status = $2, last_error = $3, updated_at = now() WHERE id = $1`,
          [job.id, outcome.final ? 'failed' : 'queued', outcome.error.slice(0, 500)],
        );
      }
      await client.query(
        'INSERT INTO job_runs (job_id, worker, attempt, outcome) VALUES ($1, $2, $3, $4)',
        [job.id, worker, job.attempts, outcome.done ? 'done' : 'failed'],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** Marks a job failed without an attempt (it never reached the queue). */
  async fail(id: number, error: string): Promise<void> {
    await this.pool.query(
      `UPDATE jobs SET status = 'failed', last_error = $2, updated_at = now() WHERE id = $1`,
      [id, error.slice(0, 500)],
    );
  }

  async heartbeat(worker: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO workers (id, heartbeat_at) VALUES ($1, now())
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`,
      [worker],
    );
  }

  async lastHeartbeat(): Promise<Date | undefined> {
    const { rows } = await this.pool.query<{ at: Date | null }>(
      'SELECT max(heartbeat_at) AS at FROM workers',
    );
    return rows[0]?.at ?? undefined;
  }

  async close(): Promise<void> {
    if (!this.pool.ended) await this.pool.end();
  }
}
