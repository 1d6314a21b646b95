// Against the real PostgreSQL on 127.0.0.1:5432 (trust auth, database `test`): `.ci/run` starts it
// where it is missing (scripts/ensure-services.mjs).
import { createHealth } from '@obskit/health';
import { listen, quietLogger, waitFor } from '@obskit/test-support';
import express from 'express';
import Fastify from 'fastify';
import { obskit as expressObskit } from 'obskit/express';
import { obskit as fastifyObskit, obskitServerOptions } from 'obskit/fastify';
import type {} from '@obskit/metrics/fastify';
import pg from 'pg';
import { Counter, Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pgCheck, pgPoolMetrics, poolMetrics } from '../src/index.js';

const config = {
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  database: process.env.PGDATABASE ?? 'test',
};

beforeAll(async () => {
  const probe = new pg.Client({ ...config, connectionTimeoutMillis: 3000 });
  try {
    await probe.connect();
    await probe.end();
  } catch (error) {
    throw new Error(
      `PostgreSQL is needed on ${config.host}:${config.port} (trust auth, database "${config.database}"): ${(error as Error).message}. Start it with \`node scripts/ensure-services.mjs\` (what .ci/run does), or pg_ctlcluster <version> main start.`,
    );
  }
});

const pools: pg.Pool[] = [];
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});
afterAll(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.end()));
});

/** A port on 127.0.0.1 where nothing listens (it was just released). */
async function closedPort(): Promise<number> {
  const running = await listen(() => {});
  await running.close();
  return running.port;
}

function newPool(max: number): pg.Pool {
  const pool = new pg.Pool({ ...config, max });
  pools.push(pool);
  return pool;
}

async function values(registry: Registry): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const metric of await registry.getMetricsAsJSON()) {
    for (const v of metric.values as {
      labels: Record<string, string | number>;
      value: number;
      metricName?: string;
    }[]) {
      const labels = Object.entries(v.labels)
        .filter(([k]) => k !== 'pool_name')
        .map(([k, x]) => `${k}=${x}`)
        .join(',');
      out.set(`${v.metricName ?? metric.name}{${labels}}`, v.value);
    }
  }
  return out;
}

describe('pg pool metrics and readiness, on the real PostgreSQL', () => {
  it('follow a pool through exhaustion: pending requests rise, readiness times out, all back to idle', async () => {
    const registry = new Registry();
    const pool = newPool(2);
    pgPoolMetrics(pool, { registry, poolName: 'orders' });
    const health = createHealth({
      logger: quietLogger(),
      shutdown: false,
      checks: { database: pgCheck(pool, { timeoutMs: 300 }) },
    });
    health.markStarted();
    expect((await health.ready()).statusCode).toBe(200);

    const held = [await pool.connect(), await pool.connect()];
    const queued = [1, 2, 3].map((n) => pool.query('SELECT $1::int AS n', [n]));
    await waitFor(() => pool.waitingCount === 3, 5000, 'three waiting queries');
    let v = await values(registry);
    expect(v.get('db_client_connection_count{state=used}')).toBe(2);
    expect(v.get('db_client_connection_count{state=idle}')).toBe(0);
    expect(v.get('db_client_connection_pending_requests{}')).toBe(3);
    expect(v.get('db_client_connection_max{}')).toBe(2);

    const down = await health.ready();
    expect(down.statusCode).toBe(503);
    expect(down.body.checks?.database?.error).toBe('timed out after 300 ms');

    for (const client of held) client.release();
    expect((await Promise.all(queued)).map((r) => r.rows[0].n)).toEqual([1, 2, 3]);
    await waitFor(() => pool.waitingCount === 0, 5000, 'no waiting query');
    await waitFor(async () => (await health.ready()).statusCode === 200, 5000, 'readiness back');
    // The readiness check's own client goes back to the pool just after its answer.
    await waitFor(() => pool.idleCount === 2, 5000, 'both connections idle');
    v = await values(registry);
    expect(v.get('db_client_connection_pending_requests{}')).toBe(0);
    expect(v.get('db_client_connection_count{state=idle}')).toBe(2);
    expect(v.get('db_client_connection_count{state=used}')).toBe(0);
    // Every connect() waited (the queued ones longest), and two connections were opened.
    expect(v.get('db_client_connection_wait_time_seconds_count{}')).toBeGreaterThanOrEqual(5);
    expect(v.get('db_client_connection_create_time_seconds_count{}')).toBe(2);
    expect(v.get('db_client_connection_wait_time_seconds_sum{}')).toBeGreaterThan(0.3);
  }, 30_000);

  it.each([
    ['a closed port', async () => ({ ...config, port: await closedPort() }), 'ECONNREFUSED'],
    [
      'a database that does not exist',
      async () => ({ ...config, database: 'obskit_no_such_db' }),
      '3D000',
    ],
  ])(
    'counts no successful wait or opening for a connect to %s',
    async (_what, target, errorType) => {
      const registry = new Registry();
      const pool = new pg.Pool({ ...(await target()), max: 2, connectionTimeoutMillis: 3000 });
      pools.push(pool);
      pgPoolMetrics(pool, { registry, poolName: 'broken' });
      await expect(pool.query('SELECT 1')).rejects.toThrow();
      await expect(pool.connect()).rejects.toThrow();
      // The callback form too.
      await new Promise<void>((resolve) =>
        pool.connect((err) => {
          expect(err).toBeInstanceOf(Error);
          resolve();
        }),
      );
      const v = await values(registry);
      // No successful wait or opening; the failed ones are timed under their error_type.
      expect(v.get('db_client_connection_wait_time_seconds_count{}') ?? 0).toBe(0);
      expect(v.get('db_client_connection_create_time_seconds_count{}') ?? 0).toBe(0);
      expect(v.get(`db_client_connection_wait_time_seconds_count{error_type=${errorType}}`)).toBe(
        3,
      );
      expect(v.get(`db_client_connection_create_time_seconds_count{error_type=${errorType}}`)).toBe(
        3,
      );
      expect(v.get('db_client_connection_count{state=used}')).toBe(0);
    },
  );

  it('times a wait cut by connectionTimeoutMillis under error_type="timeout"', async () => {
    const registry = new Registry();
    const pool = new pg.Pool({ ...config, max: 1, connectionTimeoutMillis: 100 });
    pools.push(pool);
    pgPoolMetrics(pool, { registry, poolName: 'tight' });
    const held = await pool.connect();
    await expect(pool.connect()).rejects.toThrow(/timeout/i);
    held.release();
    const v = await values(registry);
    expect(v.get('db_client_connection_wait_time_seconds_count{error_type=timeout}')).toBe(1);
    expect(v.get('db_client_connection_wait_time_seconds_sum{error_type=timeout}')).toBeGreaterThan(
      0.09,
    );
    expect(v.get('db_client_connection_wait_time_seconds_count{}')).toBe(1);
  });

  it('close() takes the pool off /metrics and gives it back its own connect and Client', async () => {
    const registry = new Registry();
    const pool = newPool(1);
    const { connect, Client } = pool as unknown as { connect: unknown; Client: unknown };
    const handle = pgPoolMetrics(pool, { registry, poolName: 'closing' });
    expect((pool as unknown as { connect: unknown }).connect).not.toBe(connect);
    await pool.query('SELECT 1');
    expect((await values(registry)).get('db_client_connection_max{}')).toBe(1);
    handle.close();
    handle.close();
    expect((pool as unknown as { connect: unknown }).connect).toBe(connect);
    expect((pool as unknown as { Client: unknown }).Client).toBe(Client);
    const v = await values(registry);
    expect(v.get('db_client_connection_max{}')).toBeUndefined();
    const waited = v.get('db_client_connection_wait_time_seconds_count{}');
    await pool.query('SELECT 1');
    expect((await values(registry)).get('db_client_connection_wait_time_seconds_count{}')).toBe(
      waited,
    );
  });

  it('answers 503 with the error in the check when SELECT 1 fails', async () => {
    const pool = new pg.Pool({ ...config, database: 'obskit_no_such_db', max: 1 });
    pools.push(pool);
    const health = createHealth({
      logger: quietLogger(),
      shutdown: false,
      checks: { database: pgCheck(pool, { timeoutMs: 3000 }) },
    });
    health.markStarted();
    const down = await health.ready();
    expect(down.statusCode).toBe(503);
    expect(down.body.checks?.database).toMatchObject({ status: 'unhealthy', critical: true });
    expect(down.body.checks?.database?.error).toContain('obskit_no_such_db');
  });

  it('rejects a registry slot some other metric holds, and bad options', () => {
    const registry = new Registry();
    new Counter({ name: 'db_client_connection_max', help: 'mine', registers: [registry] });
    expect(() => pgPoolMetrics(newPool(1), { registry })).toThrow('OBSKIT_ERR_METRIC_CONFLICT');
    expect(() => poolMetrics('no' as never, { registry: new Registry() })).toThrow(
      'OBSKIT_ERR_INVALID_OPTION: pool.stats must be a function',
    );
    expect(() => pgPoolMetrics({} as never, { registry: new Registry() })).toThrow(
      'OBSKIT_ERR_INVALID_OPTION: pool must be a pg Pool',
    );
  });

  it('reads any driver through the generic form', async () => {
    const registry = new Registry();
    const timings = poolMetrics(() => ({ total: 5, idle: 1, waiting: 7, max: 8 }), {
      registry,
      poolName: 'mysql',
    });
    timings.observeWait(0.02);
    timings.observeCreate(0.1);
    const v = await values(registry);
    expect(v.get('db_client_connection_count{state=used}')).toBe(4);
    expect(v.get('db_client_connection_pending_requests{}')).toBe(7);
    expect(v.get('db_client_connection_wait_time_seconds_count{}')).toBe(1);
  });
});

const frameworks = [
  {
    name: 'fastify',
    async start(pool: pg.Pool): Promise<string> {
      const options = {
        service: 'orders',
        logger: quietLogger(),
        tracing: false as const,
        health: { shutdown: false as const, checks: { database: pgCheck(pool) } },
      };
      const app = Fastify(obskitServerOptions(options));
      await app.register(fastifyObskit, options);
      pgPoolMetrics(pool, { registry: app.metrics.registry, poolName: 'orders' });
      app.get('/orders', async () => (await pool.query('SELECT 1 AS one')).rows);
      await app.listen({ port: 0, host: '127.0.0.1' });
      closers.push(() => app.close());
      return `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    },
  },
  {
    name: 'express',
    async start(pool: pg.Pool): Promise<string> {
      const o = expressObskit({
        service: 'orders',
        logger: quietLogger(),
        tracing: false,
        health: { shutdown: false, checks: { database: pgCheck(pool) } },
      });
      pgPoolMetrics(pool, { registry: o.metrics!.registry, poolName: 'orders' });
      const app = express();
      app.use(o);
      app.get('/orders', async (_req, res) => {
        res.json((await pool.query('SELECT 1 AS one')).rows);
      });
      const running = await listen(app);
      o.attach(running.server);
      closers.push(running.close);
      return running.url;
    },
  },
];

describe.each(frameworks)('with the obskit umbrella on $name', (framework) => {
  it('shows the pool on /metrics and checks the database on /health/ready', async () => {
    const pool = newPool(3);
    const url = await framework.start(pool);
    expect(await (await fetch(`${url}/orders`)).json()).toEqual([{ one: 1 }]);
    const ready = await fetch(`${url}/health/ready`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as {
      checks: { database: { details: { pool: { total: number } } } };
    };
    expect(body.checks.database.details.pool.total).toBeGreaterThanOrEqual(1);
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toContain('db_client_connection_max{pool_name="orders"} 3');
    expect(text).toMatch(/db_client_connection_count\{pool_name="orders",state="idle"\} \d/);
    expect(text).toContain('db_client_connection_pending_requests{pool_name="orders"} 0');
  });
});
