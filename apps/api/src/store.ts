import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';

export type JobStatus = 'queued' | 'running' | 'done' | 'failed';

export interface Job {
  id: number;
  type: string;
  payload: unknown;
  status: JobStatus;
  attempts: number;
  maxAttempts: number;
  requestId: string | null;
  trace: Record<string, string> | null;
  result: unknown;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
}

interface Row {
  id: number;
  type: string;
  payload: string;
  status: JobStatus;
  attempts: number;
  max_attempts: number;
  request_id: string | null;
  trace: string | null;
  result: string | null;
  last_error: string | null;
  created_at: number;
  updated_at: number;
}

const toJob = (row: Row): Job => ({
  id: row.id,
  type: row.type,
  payload: JSON.parse(row.payload) as unknown,
  status: row.status,
  attempts: row.attempts,
  maxAttempts: row.max_attempts,
  requestId: row.request_id,
  trace: row.trace === null ? null : (JSON.parse(row.trace) as Record<string, string>),
  result: row.result === null ? null : (JSON.parse(row.result) as unknown),
  lastError: row.last_error,
  createdAt: new Date(row.created_at).toISOString(),
  updatedAt: new Date(row.updated_at).toISOString(),
});

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  type TEXT NOT NULL,
  payload TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued','running','done','failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL DEFAULT 3,
  run_after INTEGER NOT NULL,
  lease_owner TEXT,
  lease_expires_at INTEGER,
  request_id TEXT,
  trace TEXT,
  result TEXT,
  last_error TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (status, run_after);
CREATE TABLE IF NOT EXISTS job_runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job_id INTEGER NOT NULL REFERENCES jobs(id),
  worker TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  finished_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS workers (
  id TEXT PRIMARY KEY,
  heartbeat_at INTEGER NOT NULL
);
`;

export interface QueueState {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  completed: number;
  paused: number;
  oldestWaitingAgeSeconds: number;
}

export interface NewJob {
  type: string;
  payload: unknown;
  maxAttempts?: number;
  requestId?: string;
  trace?: Record<string, string>;
}

/**
 * The job queue on one SQLite file, shared by the API and the workers. Claims are one
 * `UPDATE … RETURNING` statement, atomic across processes; a running job whose lease expired
 * (its worker crashed) is claimable again; every state change after a claim checks the lease
 * owner, so a worker that lost its lease cannot finish a job twice.
 */
export class JobStore {
  readonly db: Database.Database;
  private readonly statements;

  constructor(file: string) {
    mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    // Through exec, not db.pragma(): pragma() prepares a statement object that is then garbage,
    // and better-sqlite3 12 aborts the process on Node.js 24 when the garbage collector finalizes
    // a statement (its destructor asks Node for an environment the collector runs without). Every
    // statement here is prepared once and lives as long as the database.
    this.db.exec(
      'PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;',
    );
    this.db.exec(SCHEMA);
    const db = this.db;
    this.statements = {
      insert: db.prepare(
        `INSERT INTO jobs (type, payload, max_attempts, run_after, request_id, trace, created_at, updated_at)
         VALUES (@type, @payload, @maxAttempts, @now, @requestId, @trace, @now, @now)`,
      ),
      get: db.prepare('SELECT * FROM jobs WHERE id = ?'),
      list: db.prepare('SELECT * FROM jobs WHERE id > ? ORDER BY id LIMIT ?'),
      claim: db.prepare(
        `UPDATE jobs SET status = 'running', lease_owner = @worker, lease_expires_at = @leaseUntil,
           attempts = attempts + 1, updated_at = @now
         WHERE id = (SELECT id FROM jobs
                     WHERE (status = 'queued' AND run_after <= @now)
                        OR (status = 'running' AND lease_expires_at < @now)
                     ORDER BY id LIMIT 1)
         RETURNING *`,
      ),
      complete: db.prepare(
        `UPDATE jobs SET status = 'done', result = @result, lease_owner = NULL, lease_expires_at = NULL,
           updated_at = @now WHERE id = @id AND lease_owner = @worker AND status = 'running'`,
      ),
      retry: db.prepare(
        `UPDATE jobs SET status = CASE WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
           run_after = @runAfter, last_error = @error, lease_owner = NULL, lease_expires_at = NULL,
           updated_at = @now WHERE id = @id AND lease_owner = @worker AND status = 'running'
         RETURNING status`,
      ),
      release: db.prepare(
        `UPDATE jobs SET status = 'queued', attempts = attempts - 1, lease_owner = NULL,
           lease_expires_at = NULL, updated_at = @now
         WHERE id = @id AND lease_owner = @worker AND status = 'running'`,
      ),
      run: db.prepare(
        'INSERT INTO job_runs (job_id, worker, attempt, outcome, finished_at) VALUES (?, ?, ?, ?, ?)',
      ),
      depth: db.prepare(`SELECT count(*) AS n FROM jobs WHERE status = 'queued'`),
      stats: db.prepare(
        `SELECT
           coalesce(sum(status = 'queued' AND run_after <= @now), 0) AS waiting,
           coalesce(sum(status = 'queued' AND run_after > @now), 0) AS delayed,
           coalesce(sum(status = 'running'), 0) AS active,
           coalesce(sum(status = 'failed'), 0) AS failed,
           coalesce(sum(status = 'done'), 0) AS completed,
           min(CASE WHEN status = 'queued' AND run_after <= @now THEN run_after END) AS oldest
         FROM jobs`,
      ),
      heartbeat: db.prepare(
        'INSERT INTO workers (id, heartbeat_at) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at',
      ),
      lastHeartbeat: db.prepare('SELECT max(heartbeat_at) AS at FROM workers'),
      ping: db.prepare('SELECT 1 AS ok'),
    };
  }

  create(job: NewJob): number {
    const info = this.statements.insert.run({
      type: job.type,
      payload: JSON.stringify(job.payload ?? {}),
      maxAttempts: job.maxAttempts ?? 3,
      now: Date.now(),
      requestId: job.requestId ?? null,
      trace: job.trace ? JSON.stringify(job.trace) : null,
    });
    return Number(info.lastInsertRowid);
  }

  get(id: number): Job | undefined {
    const row = this.statements.get.get(id) as Row | undefined;
    return row && toJob(row);
  }

  /** Jobs in id order after `afterId`, at most `limit`. */
  list(afterId: number, limit: number): Job[] {
    return (this.statements.list.all(afterId, limit) as Row[]).map(toJob);
  }

  claim(worker: string, leaseMs: number): Job | undefined {
    const now = Date.now();
    const row = this.statements.claim.get({ worker, now, leaseUntil: now + leaseMs }) as
      Row | undefined;
    return row && toJob(row);
  }

  complete(job: Job, worker: string, result: unknown): boolean {
    const done = this.db.transaction(() => {
      const changed =
        this.statements.complete.run({
          id: job.id,
          worker,
          result: JSON.stringify(result ?? null),
          now: Date.now(),
        }).changes === 1;
      if (changed) this.statements.run.run(job.id, worker, job.attempts, 'done', Date.now());
      return changed;
    });
    return done();
  }

  /** Records a failed attempt: back to the queue after `backoffMs`, or `failed` after the last. */
  fail(job: Job, worker: string, error: string, backoffMs: number): JobStatus | undefined {
    const run = this.db.transaction(() => {
      const now = Date.now();
      const row = this.statements.retry.get({
        id: job.id,
        worker,
        error: error.slice(0, 500),
        runAfter: now + backoffMs,
        now,
      }) as { status: JobStatus } | undefined;
      if (row) this.statements.run.run(job.id, worker, job.attempts, 'failed', now);
      return row?.status;
    });
    return run();
  }

  /** Gives an unstarted or interrupted job back to the queue without counting the attempt. */
  release(job: Job, worker: string): boolean {
    return this.statements.release.run({ id: job.id, worker, now: Date.now() }).changes === 1;
  }

  queueDepth(): number {
    return (this.statements.depth.get() as { n: number }).n;
  }

  /**
   * The queue's state for obskit's job metrics and the worker's readiness: waiting (due now),
   * delayed (a retry's backoff), active, failed, completed, and how long the oldest due job has
   * waited.
   */
  queueStats(): QueueState {
    const now = Date.now();
    const row = this.statements.stats.get({ now }) as Omit<
      QueueState,
      'oldestWaitingAgeSeconds'
    > & {
      oldest: number | null;
    };
    const { oldest, ...counts } = row;
    return {
      ...counts,
      paused: 0,
      oldestWaitingAgeSeconds: oldest === null ? 0 : Math.max(0, (now - oldest) / 1000),
    };
  }

  heartbeat(worker: string): void {
    this.statements.heartbeat.run(worker, Date.now());
  }

  /** When any worker last reported, or undefined when none ever did. */
  lastHeartbeat(): Date | undefined {
    const at = (this.statements.lastHeartbeat.get() as { at: number | null }).at;
    return at === null ? undefined : new Date(at);
  }

  ping(): void {
    this.statements.ping.get();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}

export function openStore(file: string): JobStore {
  return new JobStore(file);
}
