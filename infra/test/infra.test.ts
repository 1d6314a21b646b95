// Checks infra/ with the real tools: promtool for the Prometheus config, alerts, alert unit tests
// and every dashboard query; amtool for Alertmanager; and a real Prometheus scraping a real
// Fastify app instrumented with obskit, answering the dashboard's queries.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as FastifyModule from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as ObskitCore from '../../packages/core/src/index.js';
import type * as ObskitMetrics from '../../packages/metrics/src/index.js';
import type * as ObskitFastify from '../../packages/obskit/src/fastify.js';
import type * as ObskitPg from '../../packages/pg/src/index.js';
import type * as ObskitAmqp from '../../packages/messaging/src/amqp.js';
import type * as ObskitNats from '../../packages/messaging/src/nats.js';
import type * as DemoStore from '../../apps/api/src/store.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const infra = join(root, 'infra');
const prometheusYml = join(infra, 'prometheus', 'prometheus.yml');
const prometheusScaledYml = join(infra, 'prometheus', 'prometheus-scaled.yml');
const alertsYml = join(infra, 'prometheus', 'alerts.yml');
const alertsTestYml = join(infra, 'prometheus', 'alerts.test.yml');
const sloRulesYml = join(infra, 'prometheus', 'slo-rules.yml');
const SLO_ALERT = 'SloErrorBudgetBurn';
const alertmanagerYml = join(infra, 'alertmanager', 'alertmanager.yml');
const dashboardJson = join(infra, 'grafana', 'dashboards', 'obskit.json');
const runbooks = join(root, 'docs', 'runbooks');
const RUNBOOK_BASE = 'https://github.com/obskit/obskit/blob/main/docs/runbooks/';

const has = (cmd: string): boolean =>
  spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const missing = (cmd: string, pkg: string): string =>
  `${cmd} is not installed: run \`node scripts/ensure-tools.mjs\` as root, or apt-get install ${pkg}`;

function run(cmd: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${cmd} ${args.join(' ')}\n${r.stdout}${r.stderr}` };
}

function expectOk(cmd: string, args: string[]): string {
  const r = run(cmd, args);
  expect(r.status, r.output).toBe(0);
  return r.output;
}

// --- what the files declare -------------------------------------------------------------------

interface AlertRule {
  name: string;
  severity: string | undefined;
  runbookUrl: string | undefined;
}

/** The alerting rules of alerts.yml, read rule by rule (`- alert:` starts one). */
function alertRules(): AlertRule[] {
  const text = readFileSync(alertsYml, 'utf8');
  return text
    .split(/^\s*- alert: /m)
    .slice(1)
    .map((block) => ({
      name: block.slice(0, block.indexOf('\n')).trim(),
      severity: /^\s+severity: (\S+)$/m.exec(block)?.[1],
      runbookUrl: /^\s+runbook_url: (\S+)$/m.exec(block)?.[1],
    }));
}

interface Target {
  expr: string;
  exemplar?: boolean;
  datasource?: { uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string }[] };
}

const dashboard = (): Dashboard => JSON.parse(readFileSync(dashboardJson, 'utf8')) as Dashboard;

function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** Grafana's variables replaced by sample values, as Grafana would before querying. */
function substitute(
  expr: string,
  values: { job: string; route: string; interval: string },
): string {
  return expr
    .replaceAll('$__rate_interval', values.interval)
    .replaceAll('$__interval', values.interval)
    .replaceAll('${job}', values.job)
    .replaceAll('$job', values.job)
    .replaceAll('${route}', values.route)
    .replaceAll('$route', values.route);
}

const dashboardExprs = (values = { job: 'api', route: '.*', interval: '1m' }) =>
  allPanels(dashboard()).flatMap((p) =>
    (p.targets ?? []).map((t) => ({ panel: p.title, expr: substitute(t.expr, values), t })),
  );

// --- static checks ----------------------------------------------------------------------------

describe('Prometheus configuration', () => {
  it('promtool is installed', () => {
    expect(has('promtool'), missing('promtool', 'prometheus')).toBe(true);
  });

  it('prometheus.yml passes promtool check config (and loads alerts.yml)', () => {
    const out = expectOk('promtool', ['check', 'config', prometheusYml]);
    expect(out).toContain('2 rule files found');
  });

  it('prometheus-scaled.yml passes promtool check config, with the same jobs and services', () => {
    const out = expectOk('promtool', ['check', 'config', prometheusScaledYml]);
    expect(out).toContain('2 rule files found');
    // job_name and its service label, in order: the dashboard and the alerts fit both files.
    const jobs = (file: string) =>
      [...readFileSync(file, 'utf8').matchAll(/- job_name: (\S+)[\s\S]*?service: (\S+)/g)].map(
        (m) => `${m[1]}=${m[2]}`,
      );
    expect(jobs(prometheusScaledYml)).toEqual(jobs(prometheusYml));
    expect(jobs(prometheusYml)).toEqual(['api=obskit-demo-api', 'worker=obskit-demo-worker']);
    // Several instances of each.
    const targets = [...readFileSync(prometheusScaledYml, 'utf8').matchAll(/targets: \[(.*)\]/g)]
      .map((m) => m[1]!.split(',').length)
      .slice(1); // the first is Alertmanager's
    expect(targets).toEqual([2, 2]);
  });

  it('alerts.yml passes promtool check rules', () => {
    const out = expectOk('promtool', ['check', 'rules', alertsYml]);
    expect(out).toContain(`SUCCESS: ${alertRules().length} rules found`);
  });

  it('the alert unit tests pass (promtool test rules)', () => {
    const out = expectOk('promtool', ['test', 'rules', alertsTestYml]);
    expect(out).toContain('SUCCESS');
  });

  it('every alert has a unit test, a severity and a runbook that exists', () => {
    const rules = alertRules();
    expect(rules.length).toBeGreaterThanOrEqual(8);
    const tests = readFileSync(alertsTestYml, 'utf8');
    for (const rule of rules) {
      expect(tests, `no test for ${rule.name}`).toMatch(
        new RegExp(`alertname: ${rule.name}\\n\\s+exp_alerts:\\n\\s+- exp_labels:`),
      );
      expect(['critical', 'warning'], `severity of ${rule.name}`).toContain(rule.severity);
      expect(rule.runbookUrl, `runbook_url of ${rule.name}`).toBe(`${RUNBOOK_BASE}${rule.name}.md`);
      const file = join(runbooks, `${rule.name}.md`);
      expect(existsSync(file), `${file} is missing`).toBe(true);
      expect(readFileSync(file, 'utf8')).toMatch(new RegExp(`^# ${rule.name}\\n`));
    }
  });

  it('every runbook belongs to an alert', () => {
    // The SLO burn-rate alerts (slo-rules.yml, generated) share one runbook.
    const names = new Set([...alertRules().map((r) => `${r.name}.md`), `${SLO_ALERT}.md`]);
    expect(readFileSync(join(runbooks, `${SLO_ALERT}.md`), 'utf8')).toMatch(
      new RegExp(`^# ${SLO_ALERT}\\n`),
    );
    for (const file of readdirSync(runbooks)) {
      if (file === 'README.md') continue;
      expect(names, `${file} has no alert in alerts.yml or slo-rules.yml`).toContain(file);
    }
  });
});

describe('Alertmanager configuration', () => {
  it('amtool is installed', () => {
    expect(has('amtool'), missing('amtool', 'prometheus-alertmanager')).toBe(true);
  });

  it('alertmanager.yml passes amtool check-config', () => {
    const out = expectOk('amtool', ['check-config', alertmanagerYml]);
    expect(out).toContain('SUCCESS');
  });

  it.each([
    ['critical', 'pager'],
    ['warning', 'chat'],
    ['info', 'chat'],
  ])('routes severity=%s to %s', (severity, receiver) => {
    expectOk('amtool', [
      'config',
      'routes',
      'test',
      `--config.file=${alertmanagerYml}`,
      `--verify.receivers=${receiver}`,
      `severity=${severity}`,
      'alertname=TargetDown',
      'service=obskit-demo-api',
    ]);
  });
});

describe('Grafana dashboard', () => {
  it('parses, with the data source, job and route variables', () => {
    const d = dashboard();
    expect(d.uid).toBe('obskit');
    expect(d.schemaVersion).toBeGreaterThanOrEqual(39);
    const vars = Object.fromEntries(d.templating.list.map((v) => [v.name, v.type]));
    expect(vars).toMatchObject({ DS_PROMETHEUS: 'datasource', job: 'query', route: 'query' });
  });

  it('every panel queries the templated data source, and panel ids are unique', () => {
    const panels = allPanels(dashboard());
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels.filter((p) => p.type !== 'row')) {
      expect(p.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? []) expect(t.datasource?.uid, p.title).toBe('${DS_PROMETHEUS}');
    }
  });

  it('the latency panel shows p50, p95 and p99 from the histogram, with exemplars', () => {
    const latency = allPanels(dashboard()).find((p) => /latency/i.test(p.title));
    const exprs = (latency?.targets ?? []).map((t) => t.expr).join('\n');
    for (const q of ['0.5', '0.95', '0.99'])
      expect(exprs).toContain(`histogram_quantile(${q}, sum by (le, route)`);
    expect(exprs).toContain('http_request_duration_seconds_bucket');
    expect(latency?.targets?.some((t) => t.exemplar === true)).toBe(true);
  });

  it('every query is valid PromQL (promtool check rules on them as recording rules)', () => {
    const exprs = dashboardExprs();
    expect(exprs.length).toBeGreaterThanOrEqual(10);
    for (const { panel, expr } of exprs) expect(expr, panel).not.toContain('$');
    checkPromql(exprs.map(({ expr }) => expr));
  });
});

describe('runbooks', () => {
  it('every PromQL block of every runbook is valid PromQL', () => {
    const exprs = readdirSync(runbooks)
      .filter((f) => f.endsWith('.md'))
      .flatMap((f) =>
        [...readFileSync(join(runbooks, f), 'utf8').matchAll(/```promql\n([\s\S]*?)```/g)].map(
          (m) => (m[1] as string).replace(/^ {3}/gm, '').trim(),
        ),
      );
    expect(exprs.length).toBeGreaterThanOrEqual(10);
    checkPromql(exprs);
  });
});

/** Fails unless promtool accepts every expression (as recording rules in a temporary file). */
function checkPromql(exprs: string[]): void {
  const dir = mkdtempSync(join(tmpdir(), 'obskit-promql-'));
  try {
    // YAML is a superset of JSON: the rules file is written as JSON.
    const file = join(dir, 'rules.yml');
    const rules = exprs.map((expr, i) => ({ record: `obskit:check:expr_${i}`, expr }));
    writeFileSync(file, JSON.stringify({ groups: [{ name: 'check', rules }] }, null, 2));
    const out = expectOk('promtool', ['check', 'rules', file]);
    expect(out).toContain(`SUCCESS: ${rules.length} rules found`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- end to end: a real Prometheus scraping a real obskit app ----------------------------------

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/**
 * prometheus.yml as the demo runs it, with the scrape targets moved to the test app, scrapes and
 * rule evaluations every second, the rule file by absolute path, and no Alertmanager.
 */
function derivedConfig(appPort: number, fastSloRules: string): string {
  let text = readFileSync(prometheusYml, 'utf8');
  const replace = (from: RegExp | string, to: string) => {
    const next = text.replace(from, to);
    expect(next, `prometheus.yml no longer has ${String(from)}`).not.toBe(text);
    text = next;
  };
  replace(/scrape_interval: 5s/, 'scrape_interval: 1s');
  replace(/scrape_timeout: 4s/, 'scrape_timeout: 1s');
  replace(/evaluation_interval: 5s/, 'evaluation_interval: 1s');
  replace(/- alerts\.yml/, `- ${JSON.stringify(alertsYml)}`);
  // The SLO rules with their `for:` cut to nothing, so the fast burn fires within the test.
  replace(/- slo-rules\.yml/, `- ${JSON.stringify(fastSloRules)}`);
  replace(/\nalerting:\n(?:[ #].*\n)+/, '\n');
  // Both scrape jobs (api and worker) point at the one test app.
  replace(/127\.0\.0\.1:3000/g, `127.0.0.1:${appPort}`);
  replace(/127\.0\.0\.1:3001/g, `127.0.0.1:${appPort}`);
  return text;
}

describe('Prometheus against a real obskit app', () => {
  const hasPrometheus = existsSync('/usr/bin/prometheus') || has('prometheus');
  const obskitDist = join(root, 'packages', 'obskit', 'dist', 'fastify.js');
  let dir: string | undefined;
  let prometheus: ChildProcess | undefined;
  let prometheusLog = '';
  let promUrl = '';
  let appUrl = '';
  let closeApp: (() => Promise<unknown>) | undefined;
  let jobs: ObskitMetrics.JobMetrics | undefined;
  let pool: { query(sql: string): Promise<unknown>; end(): Promise<void> } | undefined;
  let store: DemoStore.JobStore | undefined;
  let publish: (() => unknown) | undefined;
  let closeBroker: (() => Promise<unknown>) | undefined;

  beforeAll(async () => {
    expect(hasPrometheus, missing('prometheus', 'prometheus')).toBe(true);
    expect(existsSync(obskitDist), 'obskit is not built: run pnpm build first').toBe(true);

    // The workspace's built packages (infra/ is not a workspace package), and the fastify that
    // obskit resolves, as an app that depends on obskit gets them.
    const load = <T>(file: string): Promise<T> => import(pathToFileURL(file).href) as Promise<T>;
    const dist = (pkg: string, file: string) => join(root, 'packages', pkg, 'dist', file);
    const fastifyPath = createRequire(join(root, 'packages', 'obskit', 'package.json')).resolve(
      'fastify',
    );
    const { default: Fastify } = await load<typeof FastifyModule>(fastifyPath);
    const { obskit, obskitServerOptions } = await load<typeof ObskitFastify>(obskitDist);
    const { createJobMetrics, Registry } = await load<typeof ObskitMetrics>(
      dist('metrics', 'index.js'),
    );
    const { createLogger } = await load<typeof ObskitCore>(dist('core', 'index.js'));
    const { pgPoolMetrics } = await load<typeof ObskitPg>(dist('pg', 'index.js'));
    const { JobStore } = await load<typeof DemoStore>(
      join(root, 'apps', 'api', 'dist', 'store.js'),
    );
    // pg as @obskit/pg resolves it: a real pool on the real PostgreSQL (127.0.0.1:5432).
    const pgPath = createRequire(join(root, 'packages', 'pg', 'package.json')).resolve('pg');
    const { default: pg } = await load<{
      default: { Pool: new (config: object) => NonNullable<typeof pool> & ObskitPg.PgPool };
    }>(pgPath);
    const pgPool = new pg.Pool({
      host: process.env.PGHOST ?? '127.0.0.1',
      port: Number(process.env.PGPORT ?? 5432),
      user: process.env.PGUSER ?? 'postgres',
      database: process.env.PGDATABASE ?? 'test',
      max: 4,
      connectionTimeoutMillis: 3000,
    });
    pool = pgPool;
    await pgPool.query('SELECT 1').catch((error: Error) => {
      throw new Error(
        `PostgreSQL is needed on 127.0.0.1:5432 (trust auth, database "test") for the pool panels: ${error.message}. Start it with \`node scripts/ensure-services.mjs\` (what .ci/run does).`,
      );
    });

    // One registry for HTTP, job and health metrics, as a service that runs jobs would have.
    const registry = new Registry();
    const options = {
      service: 'obskit-infra-test',
      version: '1.0.0',
      logger: createLogger({ service: 'obskit-infra-test', level: 'silent' }),
      tracing: { exporter: 'none' as const },
      metrics: { registry },
      health: { registry, checks: { database: () => undefined }, shutdown: false as const },
    };
    const app = Fastify(obskitServerOptions(options));
    await app.register(obskit, options);
    app.get('/users/:id', async (request) => {
      await sleep(2 + Math.random() * 8);
      return { id: (request.params as { id: string }).id };
    });
    app.get('/fail', async () => {
      throw new Error('simulated failure');
    });
    // Covered by the demo's latency SLO (api-jobs-latency: /jobs and /jobs/:id within 250 ms).
    app.get('/jobs/:id', async () => {
      await sleep(2);
      return { state: 'done' };
    });
    app.get('/db', async () => {
      await pool!.query('SELECT pg_sleep(0.002)');
      return { ok: true };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    closeApp = () => app.close();
    const appPort = (app.server.address() as { port: number }).port;
    appUrl = `http://127.0.0.1:${appPort}`;
    pgPoolMetrics(pgPool, { registry, poolName: 'api' });
    // A real RabbitMQ queue (127.0.0.1:5672) through @obskit/messaging: each round of traffic
    // publishes two messages; the consumer holds each message a while and requeues every first
    // delivery of one in three (redeliveries), so that lag and redeliveries have values.
    const { instrumentAmqp } = await load<typeof ObskitAmqp>(dist('messaging', 'amqp.js'));
    const amqplibPath = createRequire(join(root, 'packages', 'messaging', 'package.json')).resolve(
      'amqplib',
    );
    const { default: amqplib } = await load<{
      default: { connect(url: string): Promise<ObskitAmqp.AmqpConnectionLike> };
    }>(amqplibPath);
    const connection = await amqplib
      .connect('amqp://guest:guest@127.0.0.1:5672')
      .catch((error: Error) => {
        throw new Error(
          `RabbitMQ is needed on 127.0.0.1:5672 (guest/guest) for the messaging panels: ${error.message}. Start it with \`node scripts/ensure-services.mjs\`.`,
        );
      });
    const channel = await connection.createChannel();
    const queue = `obskit-infra-${process.pid}`;
    await channel.assertQueue(queue, { durable: false, autoDelete: true });
    await channel.prefetch(1);
    const amqp = instrumentAmqp({ connection, registry });
    amqp.watchQueue(queue);
    let n = 0;
    await amqp.consume(channel, queue, async (_body: Buffer, _message, info) => {
      await sleep(30);
      return !info.redelivered && n++ % 3 === 0 ? 'requeue' : 'ack';
    });
    // And a JetStream stream with a durable consumer (127.0.0.1:4222), for its lag readings.
    const { instrumentJetStream } = await load<typeof ObskitNats>(dist('messaging', 'nats.js'));
    const natsPath = createRequire(join(root, 'packages', 'messaging', 'package.json')).resolve(
      'nats',
    );
    const nats = await load<{
      connect(options: object): Promise<NonNullable<ObskitNats.JetStreamOptions['connection']>>;
      AckPolicy: Record<'Explicit', never>;
    }>(natsPath);
    const nc = await nats.connect({ servers: '127.0.0.1:4222' });
    const jsm = await nc.jetstreamManager();
    const stream = `INFRA_${process.pid}`;
    await jsm.streams.add({ name: stream, subjects: [`infra${process.pid}.>`] });
    await jsm.consumers.add(stream, {
      durable_name: 'workers',
      ack_policy: nats.AckPolicy.Explicit,
    });
    const js = nc.jetstream();
    const jetstream = instrumentJetStream({ connection: nc, registry });
    jetstream.watchConsumer(jsm, stream, 'workers');
    await jetstream.consume(await js.consumers.get(stream, 'workers'), async () => {
      await sleep(30);
    });
    publish = () => {
      amqp.sendToQueue(channel, queue, Buffer.from('{"order":1}'));
      amqp.sendToQueue(channel, queue, Buffer.from('{"order":2}'));
      void jetstream.publish(js, `infra${process.pid}.orders`, '{"order":3}');
    };
    closeBroker = async () => {
      await amqp.close();
      await connection.close();
      await jetstream.close();
      await jsm.streams.delete(stream);
      await nc.close();
    };
    // The demo's SQLite queue, read at scrape time as the demo worker reads it: one job done,
    // one failed for good, three waiting.
    dir = mkdtempSync(join(tmpdir(), 'obskit-prometheus-'));
    const demo = new JobStore(join(dir, 'jobs.sqlite'));
    store = demo;
    for (let i = 0; i < 5; i++) demo.create({ type: 'email', payload: {}, maxAttempts: 1 });
    const first = demo.claim('infra-test', 60_000)!;
    demo.complete(first, 'infra-test', { ok: true });
    demo.fail(demo.claim('infra-test', 60_000)!, 'infra-test', 'simulated', 0);
    jobs = createJobMetrics({ registry, queue: 'jobs', queueStats: () => demo.queueStats() });

    const config = join(dir, 'prometheus.yml');
    const fastSloRules = join(dir, 'slo-rules.yml');
    writeFileSync(
      fastSloRules,
      readFileSync(sloRulesYml, 'utf8').replace(/for: \d+[mh]/g, 'for: 0s'),
    );
    writeFileSync(config, derivedConfig(appPort, fastSloRules));
    const promPort = await freePort();
    promUrl = `http://127.0.0.1:${promPort}`;
    prometheus = spawn(
      existsSync('/usr/bin/prometheus') ? '/usr/bin/prometheus' : 'prometheus',
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${promPort}`,
        '--enable-feature=exemplar-storage',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const keep = (chunk: Buffer) => {
      prometheusLog = (prometheusLog + chunk.toString()).slice(-8000);
    };
    prometheus.stdout?.on('data', keep);
    prometheus.stderr?.on('data', keep);
  }, 30_000);

  afterAll(async () => {
    const child = prometheus;
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      process.kill(child.pid, 'SIGTERM');
      const done = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)]);
      if (!done && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    }
    await closeApp?.();
    await closeBroker?.();
    await pool?.end();
    store?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }, 20_000);

  async function query(expr: string): Promise<Sample[]> {
    const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as {
      status: string;
      error?: string;
      data: { result: Sample[] };
    };
    expect(body.status, `${expr}: ${body.error ?? ''}`).toBe('success');
    return body.data.result;
  }

  /** Sends traffic and polls until `check` passes; at most 20 s. */
  async function eventually<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + 20_000;
    let last: unknown;
    while (Date.now() < deadline) {
      if (prometheus?.exitCode !== null) throw new Error(`prometheus exited:\n${prometheusLog}`);
      await Promise.all([
        fetch(`${appUrl}/users/${Math.floor(Math.random() * 100)}`).then((r) => r.text()),
        fetch(`${appUrl}/fail`).then((r) => r.text()),
        fetch(`${appUrl}/jobs/7`).then((r) => r.text()),
        fetch(`${appUrl}/db`).then((r) => r.text()),
        fetch(`${appUrl}/health/ready`).then((r) => r.text()),
        publish?.(),
        jobs?.run((job) => job.step('process', () => sleep(5))),
        jobs
          ?.run((job) => job.step('process', () => Promise.reject(new Error('job failed'))))
          .catch(() => undefined),
      ]);
      try {
        const found = await check();
        if (found !== undefined) return found;
      } catch (error) {
        last = error; // Prometheus not listening yet, or not enough samples
      }
      await sleep(250);
    }
    throw new Error(`${what} within 20 s (${String(last ?? 'no result')})\n${prometheusLog}`);
  }

  it('scrapes the app and answers the dashboard latency query', async () => {
    const series = await eventually('http_requests_total for the app', async () => {
      const r = await query('http_requests_total{job="api"}');
      return r.some((s) => s.metric.route === '/users/:id') ? r : undefined;
    });
    const routes = new Set(series.map((s) => s.metric.route));
    expect(routes).toContain('/fail');
    expect(series.find((s) => s.metric.route === '/fail')?.metric).toMatchObject({
      job: 'api',
      service: 'obskit-demo-api',
      method: 'GET',
      status_code: '500',
    });
    // Probes are not counted.
    expect(routes).not.toContain('/health/ready');

    const p99 = dashboardExprs().find(
      ({ expr }) =>
        expr.startsWith('histogram_quantile(0.99') && expr.includes('http_request_duration'),
    );
    expect(p99).toBeDefined();
    const latency = await eventually('the dashboard p99 for /users/:id', async () => {
      const r = await query(p99!.expr);
      const v = r.find((s) => s.metric.route === '/users/:id');
      return v && Number.isFinite(Number(v.value[1])) ? Number(v.value[1]) : undefined;
    });
    // The handler sleeps 2-10 ms: the p99 lands in the 5-10 ms or 10-25 ms bucket.
    expect(latency).toBeGreaterThan(0);
    expect(latency).toBeLessThan(0.5);
  }, 45_000);

  it('answers every dashboard query, stores exemplars and loads every alert', async () => {
    // Every panel has data once two scrapes saw traffic, jobs and a readiness probe.
    const empty = await eventually('data for every dashboard query', async () => {
      const left: string[] = [];
      for (const { panel, expr } of dashboardExprs({ job: 'api', route: '.*', interval: '10s' }))
        if ((await query(expr)).length === 0) left.push(`${panel}: ${expr}`);
      if (left.length > 0) throw new Error(`no data yet for:\n${left.join('\n')}`);
      return left;
    });
    expect(empty).toEqual([]);

    const now = Date.now() / 1000;
    const res = await fetch(
      `${promUrl}/api/v1/query_exemplars?query=${encodeURIComponent('http_request_duration_seconds_bucket{job="api"}')}&start=${now - 60}&end=${now + 1}`,
    );
    const exemplars = (await res.json()) as {
      data: { exemplars: { labels: Record<string, string> }[] }[];
    };
    const traceIds = exemplars.data.flatMap((d) => d.exemplars.map((e) => e.labels.trace_id));
    expect(traceIds.length).toBeGreaterThan(0);
    for (const id of traceIds) expect(id).toMatch(/^[0-9a-f]{32}$/);

    const rules = (await (await fetch(`${promUrl}/api/v1/rules?type=alert`)).json()) as {
      data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
    };
    const loaded = rules.data.groups.flatMap((g) => g.rules);
    const sloAlerts = (readFileSync(sloRulesYml, 'utf8').match(/- alert: /g) ?? []).length;
    expect(loaded.map((r) => r.name).sort()).toEqual(
      [...alertRules().map((r) => r.name), ...Array<string>(sloAlerts).fill(SLO_ALERT)].sort(),
    );
    // Evaluated against real series without errors.
    for (const r of loaded) expect(r.lastError ?? '', r.name).toBe('');
  }, 45_000);

  it('records the SLO error ratios the traffic drives and fires the fast burn alert', async () => {
    // Every round of traffic is one /fail in four counted requests (/users/:id, /fail, /jobs/:id,
    // /db; probes are not counted) and one failed job attempt in two.
    const ratio = async (slo: string): Promise<number | undefined> => {
      const r = await query(`slo:sli_error:ratio_rate5m{slo="${slo}"}`);
      return r.length === 1 ? Number(r[0]!.value[1]) : undefined;
    };
    const availability = await eventually('the api-availability error ratio', () =>
      ratio('api-availability'),
    );
    expect(availability).toBeGreaterThan(0.2);
    expect(availability).toBeLessThan(0.3);
    const jobs = await eventually('the worker-jobs error ratio', () => ratio('worker-jobs'));
    expect(jobs).toBeGreaterThan(0.4);
    expect(jobs).toBeLessThan(0.6);
    // /jobs/:id answers in a few milliseconds, well within 250 ms.
    expect(await eventually('the api-jobs-latency ratio', () => ratio('api-jobs-latency'))).toBe(0);
    // 25 % bad against a 0.1 % budget: 250× the budget, above every burn threshold.
    const alerts = await eventually('the fast burn alert firing', async () => {
      const res = await fetch(`${promUrl}/api/v1/alerts`);
      const body = (await res.json()) as {
        data: {
          alerts: {
            labels: Record<string, string>;
            state: string;
            annotations: Record<string, string>;
          }[];
        };
      };
      const mine = body.data.alerts.filter(
        (a) => a.labels.alertname === SLO_ALERT && a.labels.slo === 'api-availability',
      );
      return mine.some((a) => a.labels.window === '1h' && a.state === 'firing') ? mine : undefined;
    });
    const fast = alerts.find((a) => a.labels.window === '1h')!;
    expect(fast.labels).toMatchObject({ severity: 'critical', service: 'obskit-demo-api' });
    expect(fast.annotations.summary).toMatch(
      /^obskit-demo-api: SLO api-availability burns its error budget \d+\.\d× as fast as it allows \(-?\d+% of the 30d budget left\)$/,
    );
    // The recording rules make SLOs × windows series, whatever the number of routes and codes:
    // 3 SLOs × (7 windows + the period + the objective + the budget left).
    const recorded = await query('count({__name__=~"slo:.+"})');
    expect(Number(recorded[0]!.value[1])).toBe(30);
  }, 45_000);
});
