import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';

const appsDir = fileURLToPath(new URL('../..', import.meta.url));

export interface Service {
  name: string;
  child: ChildProcess;
  url: string;
  lines(): Record<string, unknown>[];
  exited: Promise<number | null>;
}

const started: Service[] = [];

/** Kills (by PID) whatever a test started and left running. */
export function killAll(): void {
  for (const s of started.splice(0)) {
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  }
}

/** Starts `apps/<app>/dist/main.js` on a free port and waits for its "listening" log line. */
export async function startApp(
  app: 'api' | 'worker',
  env: Record<string, string>,
): Promise<Service> {
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: `${appsDir}/${app}`,
    env: {
      ...process.env,
      PORT: '0',
      OPS_PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      OBSKIT_DRAIN_DELAY_MS: '100',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const lines = (): Record<string, unknown>[] =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const port = await new Promise<number>((resolve, reject) => {
    const deadline = setTimeout(
      () => reject(new Error(`${app} did not start:\n${out}\n${err}`)),
      15_000,
    );
    const poll = setInterval(() => {
      const line = lines().find(
        (l) => l.msg === 'api listening' || l.msg === 'worker ops server listening',
      );
      if (line) {
        clearInterval(poll);
        clearTimeout(deadline);
        resolve(line.port as number);
      } else if (child.exitCode !== null) {
        clearInterval(poll);
        clearTimeout(deadline);
        reject(new Error(`${app} exited with ${child.exitCode}:\n${out}\n${err}`));
      }
    }, 20);
  });
  const service = { name: app, child, url: `http://127.0.0.1:${port}`, lines, exited };
  started.push(service);
  return service;
}

export { otlpReceiver, type OtlpSpan } from '@obskit/test-support';

export async function postJob(
  api: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${api}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/**
 * The demo scaled out for one test file: a PostgreSQL database and a BullMQ queue of its own on
 * the real servers (127.0.0.1:5432, trust auth; 127.0.0.1:6379), made in `setup()` (with a
 * message saying how to start a server that is not there) and removed in `teardown()`.
 */
export function scaledOutServices(prefix: string) {
  const pgConfig = {
    host: process.env.PGHOST ?? '127.0.0.1',
    port: Number(process.env.PGPORT ?? 5432),
    user: process.env.PGUSER ?? 'postgres',
  };
  const redisUrl = `redis://127.0.0.1:${process.env.REDIS_PORT ?? 6379}`;
  const database = `obskit_${prefix}_${process.pid}`;
  const queueName = `jobs-${prefix}-${process.pid}`;
  let admin: pg.Client | undefined;
  return {
    pgConfig,
    redisUrl,
    database,
    queueName,
    /** The apps' environment: this database and queue, spans to `otlpUrl` (OTLP/HTTP JSON). */
    env(otlpUrl: string): Record<string, string> {
      return {
        DATABASE_URL: `postgres://${pgConfig.user}@${pgConfig.host}:${pgConfig.port}/${database}`,
        REDIS_URL: redisUrl,
        QUEUE_NAME: queueName,
        OTEL_EXPORTER_OTLP_ENDPOINT: otlpUrl,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
      };
    },
    async setup(): Promise<void> {
      admin = new pg.Client({ ...pgConfig, database: 'test', connectionTimeoutMillis: 3000 });
      try {
        await admin.connect();
      } catch (error) {
        throw new Error(
          `PostgreSQL is needed on ${pgConfig.host}:${pgConfig.port} (trust auth, database "test"): ${(error as Error).message}. Start it with \`node scripts/ensure-services.mjs\` (what .ci/run does).`,
        );
      }
      const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
      try {
        await redis.connect();
        await redis.ping();
      } catch (error) {
        throw new Error(
          `Redis is needed at ${redisUrl}: ${(error as Error).message}. Start it with \`node scripts/ensure-services.mjs\` (what .ci/run does), or redis-server --daemonize yes --bind 127.0.0.1.`,
        );
      } finally {
        redis.disconnect();
      }
      await admin.query(`DROP DATABASE IF EXISTS ${database}`);
      await admin.query(`CREATE DATABASE ${database}`);
    },
    async teardown(): Promise<void> {
      killAll();
      const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
      const queue = new Queue(queueName, { connection });
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      connection.disconnect();
      await admin?.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin?.end();
    },
  };
}
