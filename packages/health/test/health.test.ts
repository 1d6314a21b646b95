import { createLogger, type Logger } from '@obskit/core';
import { listen, logSink, quietLogger, sleep } from '@obskit/test-support';
import express from 'express';
import Fastify from 'fastify';
import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { health as expressHealth } from '../src/express.js';
import { health as fastifyHealth } from '../src/fastify.js';
import { createHealth, type HealthBody, type HealthOptions } from '../src/index.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

interface Running {
  url: string;
}

const quiet = (over: Parameters<typeof quietLogger>[0] = {}): Logger => quietLogger<Logger>(over);

const frameworks = [
  {
    name: 'fastify',
    async start(options: HealthOptions): Promise<Running> {
      const app = Fastify();
      await app.register(fastifyHealth, { shutdown: false, logger: quiet(), ...options });
      await app.listen({ port: 0, host: '127.0.0.1' });
      closers.push(() => app.close());
      return { url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` };
    },
  },
  {
    name: 'express',
    async start(options: HealthOptions): Promise<Running> {
      const app = express();
      const h = expressHealth({ shutdown: false, logger: quiet(), ...options });
      app.use(h);
      const running = await listen(app);
      h.attach(running.server);
      closers.push(running.close);
      return { url: running.url };
    },
  },
];

async function probe(
  url: string,
  path = '/health/ready',
): Promise<{ status: number; body: HealthBody }> {
  const response = await fetch(url + path);
  return { status: response.status, body: (await response.json()) as HealthBody };
}

describe.each(frameworks)('$name', (framework) => {
  it('answers healthy with the DESIGN.md JSON', async () => {
    const { url } = await framework.start({
      version: '1.4.0',
      checks: { database: () => ({ pool: 3 }) },
    });
    const { status, body } = await probe(url);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      status: 'healthy',
      version: '1.4.0',
      checks: { database: { status: 'healthy', critical: true, details: { pool: 3 } } },
    });
    expect(typeof body.uptimeSeconds).toBe('number');
    expect(new Date(body.timestamp).toISOString()).toBe(body.timestamp);
    expect((await probe(url, '/health')).body.status).toBe('healthy');
  });

  it('critical failure → 503 unhealthy; non-critical → 200 degraded; liveness unaffected', async () => {
    const failing = await framework.start({
      checks: {
        database: () => Promise.reject(new Error('connection refused\n    at Socket.stack')),
      },
    });
    const down = await probe(failing.url);
    expect(down.status).toBe(503);
    expect(down.body.status).toBe('unhealthy');
    expect(down.body.checks?.database?.error).toBe('connection refused');
    expect((await probe(failing.url, '/health/live')).status).toBe(200);

    const degraded = await framework.start({
      checks: {
        database: () => true,
        cache: { check: () => Promise.reject(new Error('miss')), critical: false },
      },
    });
    const d = await probe(degraded.url);
    expect(d.status).toBe(200);
    expect(d.body.status).toBe('degraded');
  });

  it('a check that never resolves → 503 within its timeout plus a small margin', async () => {
    const { url } = await framework.start({
      checks: { hang: { check: () => new Promise(() => {}), timeoutMs: 200 } },
    });
    const started = performance.now();
    const { status, body } = await probe(url);
    const elapsed = performance.now() - started;
    expect(status).toBe(503);
    expect(body.checks?.hang?.error).toBe('timed out after 200 ms');
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(700);
  });

  it('a check that throws synchronously fails cleanly', async () => {
    const { url } = await framework.start({
      checks: {
        sync: () => {
          throw new Error('x'.repeat(500));
        },
      },
    });
    const { status, body } = await probe(url);
    expect(status).toBe(503);
    expect(body.checks?.sync?.error?.length).toBeLessThanOrEqual(200);
  });

  it('ten concurrent probes run a check once', async () => {
    let runs = 0;
    const { url } = await framework.start({
      checks: {
        db: async () => {
          runs++;
          // A check that takes a while, so the ten probes overlap it: the behaviour under test.
          await sleep(100);
        },
      },
    });
    const results = await Promise.all(Array.from({ length: 10 }, () => probe(url)));
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(runs).toBe(1);
  });

  it('startup turns 200 once the server listens; hideDetails hides checks', async () => {
    const { url } = await framework.start({ hideDetails: true, checks: { db: () => true } });
    const startup = await probe(url, '/health/startup');
    expect(startup.status).toBe(200);
    const ready = await probe(url);
    expect(ready.body.checks).toBeUndefined();
  });

  it('records health_check_status and health_check_duration_seconds', async () => {
    const registry = new Registry();
    const { url } = await framework.start({
      registry,
      checks: {
        db: () => true,
        cache: { check: () => Promise.reject(new Error('x')), critical: false },
      },
    });
    await probe(url);
    const text = await registry.metrics();
    expect(text).toContain('health_check_status{check="db"} 1');
    expect(text).toContain('health_check_status{check="cache"} 0');
    expect(text).toContain('health_check_duration_seconds_count{check="db"} 1');
  });

  it('re-runs its checks on every probe with cacheMs: 0, and reuses them within cacheMs', async () => {
    let runs = 0;
    const fresh = await framework.start({ cacheMs: 0, checks: { db: () => void runs++ } });
    await probe(fresh.url);
    await probe(fresh.url);
    await probe(fresh.url);
    expect(runs).toBe(3);
    let cachedRuns = 0;
    const cached = await framework.start({
      cacheMs: 60_000,
      checks: { db: () => void cachedRuns++ },
    });
    await probe(cached.url);
    await probe(cached.url);
    expect(cachedRuns).toBe(1);
  });

  it('answers again after a readiness run that failed to finish', async () => {
    let failNext = true;
    const logger = quiet({
      warn: () => {
        if (failNext) {
          failNext = false;
          throw new Error('log sink down');
        }
      },
    });
    let calls = 0;
    const { url } = await framework.start({
      logger,
      checks: {
        db: () => {
          calls++;
          if (calls === 1) throw new Error('first run fails');
        },
      },
    });
    const first = await probe(url);
    expect(first.status).toBe(503);
    expect(first.body.status).toBe('unhealthy');
    const second = await probe(url);
    expect(second.status).toBe(200);
    expect(second.body.status).toBe('healthy');
  });
});

describe('registration', () => {
  it('on Fastify, rejects app.ready() with the coded error instead of throwing out of the plugin', async () => {
    const registry = new Registry();
    new Counter({ name: 'health_check_status', help: 'not a gauge', registers: [registry] });
    const app = Fastify();
    void app.register(fastifyHealth, { registry, shutdown: false, logger: quiet() });
    await expect(app.ready()).rejects.toThrow('OBSKIT_ERR_METRIC_CONFLICT');
    await app.close();
  });

  it('on Express, throws the coded error when the middleware is made', () => {
    const registry = new Registry();
    new Counter({ name: 'health_check_status', help: 'not a gauge', registers: [registry] });
    expect(() => expressHealth({ registry, shutdown: false, logger: quiet() })).toThrow(
      'OBSKIT_ERR_METRIC_CONFLICT',
    );
  });

  it('fails with a coded error when health_check_status is registered as another type', () => {
    const registry = new Registry();
    new Counter({ name: 'health_check_status', help: 'not a gauge', registers: [registry] });
    expect(() => createHealth({ registry, shutdown: false, logger: quiet() })).toThrow(
      'OBSKIT_ERR_METRIC_CONFLICT: metric health_check_status is already registered as a counter, health needs a gauge',
    );
  });
});

describe('createHealth', () => {
  it('is starting before markStarted and shutting_down during shutdown', async () => {
    const h = createHealth({
      logger: quiet(),
      shutdown: { signals: [], drainDelayMs: 50, exit: false },
    });
    expect((await h.ready()).body.status).toBe('starting');
    expect(h.startup().statusCode).toBe(503);
    h.markStarted();
    expect((await h.ready()).statusCode).toBe(200);
    const done = h.shutdown();
    expect((await h.ready()).body.status).toBe('shutting_down');
    expect(h.live().statusCode).toBe(200);
    await done;
  });

  it('runs hooks once, even when one throws and shutdown is called twice', async () => {
    const ran: string[] = [];
    const h = createHealth({
      logger: quiet(),
      shutdown: {
        signals: [],
        drainDelayMs: 0,
        exit: false,
        onShutdown: [
          () => {
            ran.push('a');
            throw new Error('boom');
          },
          () => ran.push('b'),
        ],
      },
    });
    await Promise.all([h.shutdown(), h.shutdown()]);
    await h.shutdown();
    expect(ran).toEqual(['a', 'b']);
  });

  it('takes the drain delay and the deadline from OBSKIT_DRAIN_DELAY_MS and OBSKIT_SHUTDOWN_TIMEOUT_MS', async () => {
    const sink = logSink();
    const logger = createLogger({ service: 'env', destination: sink.stream });
    vi.stubEnv('OBSKIT_DRAIN_DELAY_MS', '120');
    vi.stubEnv('OBSKIT_SHUTDOWN_TIMEOUT_MS', '7000');
    try {
      const h = createHealth({ logger, shutdown: { signals: [], exit: false } });
      const started = performance.now();
      await h.shutdown();
      expect(performance.now() - started).toBeGreaterThanOrEqual(110);
      const line = sink.lines().find((l) => l.msg === 'shutdown: readiness now 503, draining');
      expect(line).toMatchObject({ drainDelayMs: 120, timeoutMs: 7000 });
      // Options given in code win.
      const mine = createHealth({
        logger,
        shutdown: { signals: [], exit: false, drainDelayMs: 0 },
      });
      await mine.shutdown();
      expect(
        sink
          .lines()
          .filter((l) => l.msg === 'shutdown: readiness now 503, draining')
          .at(-1),
      ).toMatchObject({ drainDelayMs: 0, timeoutMs: 7000 });
      vi.stubEnv('OBSKIT_DRAIN_DELAY_MS', 'soon');
      expect(() => createHealth({ logger, shutdown: { signals: [], exit: false } })).toThrow(
        /OBSKIT_DRAIN_DELAY_MS/,
      );
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('rejects bad options with coded errors', () => {
    expect(() =>
      createHealth({ checks: { db: { check: () => true, timeoutMs: 'fast' as never } } }),
    ).toThrow(
      'OBSKIT_ERR_INVALID_OPTION: health.checks.db.timeoutMs must be a number >= 1, got "fast"',
    );
    expect(() => createHealth({ checks: { db: 'yes' as never } })).toThrow(
      'health.checks.db must be an object, got "yes"',
    );
    expect(() => createHealth({ paths: { live: 'live' } })).toThrow(
      'health.paths.live must be a path starting with "/"',
    );
  });
});
