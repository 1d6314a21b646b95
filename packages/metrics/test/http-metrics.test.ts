import type { IncomingMessage, ServerResponse } from 'node:http';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '@obskit/test-support';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpMetrics } from '../src/index.js';
import {
  frameworks,
  slowRoute,
  parseMetrics,
  SPAN_ID,
  TRACE_ID,
  type Running,
  type Sample,
} from './support.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  slowRoute.reset();
  await Promise.all(closers.splice(0).map((close) => close()));
});

const count = (samples: Sample[], labels: Record<string, string>): number | undefined =>
  samples.find(
    (s) =>
      s.name === 'http_requests_total' &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  )?.value;

async function scrape(
  url: string,
  accept?: string,
): Promise<{ status: number; type: string; text: string }> {
  const response = await fetch(`${url}/metrics`, accept ? { headers: { accept } } : {});
  return {
    status: response.status,
    type: response.headers.get('content-type') ?? '',
    text: await response.text(),
  };
}

/** Starts /slow and destroys the socket once the server has it, as an impatient client does. */
async function abortSlow(url: string): Promise<void> {
  const req = httpRequest(`${url}/slow`);
  req.on('error', () => undefined);
  req.end();
  await slowRoute.arrived;
  req.destroy();
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

const run = promisify(execFile);

describe.each(frameworks)('$name', (framework) => {
  async function start(...args: Parameters<typeof framework.start>): Promise<Running> {
    const running = await framework.start(...args);
    closers.push(() => running.close());
    return running;
  }

  it('counts a known request mix once each, with route templates and bounded labels', async () => {
    const { url } = await start();
    await fetch(`${url}/users/1`);
    await fetch(`${url}/users/2?x=1`);
    await fetch(`${url}/users`, { method: 'POST' });
    await fetch(`${url}/nope/123`);
    await fetch(`${url}/boom`);
    await fetch(`${url}/users/1`, { method: 'PURGE' });
    await fetch(`${url}/v1/items/9`);
    await fetch(`${url}/health/ready`);
    await abortSlow(url);
    let samples: Sample[] = [];
    await waitFor(
      async () => {
        samples = parseMetrics((await scrape(url)).text);
        return count(samples, { status_code: '499' }) === 1;
      },
      5000,
      'the aborted request to be counted',
    );

    expect(count(samples, { method: 'GET', route: '/users/:id', status_code: '200' })).toBe(2);
    expect(count(samples, { method: 'POST', route: '/users', status_code: '201' })).toBe(1);
    // /nope/123, and /health/ready: this app serves no probes, so it is an unknown path here.
    expect(count(samples, { method: 'GET', route: '__unmatched__', status_code: '404' })).toBe(2);
    expect(count(samples, { method: 'GET', route: '/boom', status_code: '500' })).toBe(1);
    expect(count(samples, { method: '_OTHER', route: '__unmatched__', status_code: '404' })).toBe(
      1,
    );
    expect(count(samples, { method: 'GET', route: '/v1/items/:id', status_code: '200' })).toBe(1);
    expect(count(samples, { method: 'GET', route: '/slow', status_code: '499' })).toBe(1);
    // /metrics itself is not counted (the probes are not either: see the obskit package's tests).
    expect(
      samples.some((s) => s.labels.route === '/metrics' || s.labels.route?.startsWith('/health')),
    ).toBe(false);
    const total = samples
      .filter((s) => s.name === 'http_requests_total')
      .reduce((n, s) => n + s.value, 0);
    expect(total).toBe(9);
    const durationCount = samples.find(
      (s) => s.name === 'http_request_duration_seconds_count' && s.labels.route === '/users/:id',
    );
    expect(durationCount?.value).toBe(2);
    expect(samples.find((s) => s.name === 'http_requests_in_flight')?.value).toBe(0);
    expect(samples.some((s) => s.name === 'process_cpu_user_seconds_total')).toBe(true);
  });

  it('adds no series for 10,000 requests to random unmatched paths', async () => {
    const { url } = await start({ defaultMetrics: false });
    const series = async (): Promise<number> =>
      parseMetrics((await scrape(url)).text).filter((s) => s.name === 'http_requests_total').length;
    await fetch(`${url}/first-miss`);
    const before = await series();
    let sent = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (sent < 10_000) {
          sent++;
          await (
            await fetch(`${url}/scan/${Math.random().toString(36).slice(2)}/${sent}`)
          ).arrayBuffer();
        }
      }),
    );
    expect(await series()).toBe(before);
    const samples = parseMetrics((await scrape(url)).text);
    expect(count(samples, { route: '__unmatched__', status_code: '404' })).toBe(10_001);
  }, 60_000);

  it('carries exemplars in OpenMetrics only', async () => {
    const { url } = await start({ defaultMetrics: false });
    await fetch(`${url}/users/1`, { headers: { 'x-test-trace': '1' } });
    const om = await scrape(url, 'application/openmetrics-text; version=1.0.0,text/plain;q=0.5');
    expect(om.type).toContain('application/openmetrics-text');
    expect(om.text.endsWith('# EOF\n')).toBe(true);
    const samples = parseMetrics(om.text);
    const counter = samples.find(
      (s) => s.name === 'http_requests_total' && s.labels.route === '/users/:id',
    );
    expect(counter?.exemplar).toContain(`trace_id="${TRACE_ID}"`);
    expect(counter?.exemplar).toContain(`span_id="${SPAN_ID}"`);
    expect(
      samples.some(
        (s) => s.name === 'http_request_duration_seconds_bucket' && s.exemplar?.includes(TRACE_ID),
      ),
    ).toBe(true);
    const plain = await scrape(url);
    expect(plain.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(plain.text).not.toContain('trace_id');
    // The OpenMetrics render leaves the registry as it was.
    expect(plain.text).toContain('# TYPE http_requests_total counter');
    expect(count(parseMetrics(plain.text), { route: '/users/:id' })).toBe(1);
  });

  it('protects /metrics with a bearer token or an authorize function', async () => {
    const { url } = await start({ defaultMetrics: false, endpoint: { bearerToken: 's3cret' } });
    const none = await fetch(`${url}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    expect(await none.text()).toContain('Authorization: Bearer');
    expect(
      (await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer nope' } })).status,
    ).toBe(403);
    const ok = await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer s3cret' } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('http_requests_in_flight');

    const other = await start({
      defaultMetrics: false,
      endpoint: { authorize: (req) => req.headers['x-scraper'] === 'prometheus' },
    });
    expect((await fetch(`${other.url}/metrics`)).status).toBe(403);
    expect(
      (await fetch(`${other.url}/metrics`, { headers: { 'x-scraper': 'prometheus' } })).status,
    ).toBe(200);
  });

  it('serves /metrics on a separate listener', async () => {
    const port = await freePort();
    const running = await start({
      defaultMetrics: false,
      endpoint: { listen: { port, host: '127.0.0.1' } },
    });
    await fetch(`${running.url}/users/1`);
    expect((await fetch(`${running.url}/metrics`)).status).toBe(404);
    const text = await (await fetch(`${running.metricsUrl}/metrics`)).text();
    expect(count(parseMetrics(text), { route: '/users/:id' })).toBe(1);
  });

  it('fails the start with EADDRINUSE when the separate listener’s port is taken', async () => {
    const taken = await import('@obskit/test-support').then(({ listen }) => listen(() => {}));
    closers.push(taken.close);
    await expect(
      start({
        defaultMetrics: false,
        endpoint: { listen: { port: taken.port, host: '127.0.0.1' } },
      }),
    ).rejects.toThrow(/EADDRINUSE/);
  });

  it('runs two apps in one process, and twice on one registry, without "already registered"', async () => {
    const a = await start();
    const b = await start();
    await fetch(`${a.url}/users/1`);
    expect(
      count(parseMetrics((await scrape(b.url)).text), { route: '/users/:id' }),
    ).toBeUndefined();
    const registry = new Registry();
    const c = await start({ registry });
    const d = await start({ registry });
    await fetch(`${c.url}/users/1`);
    await fetch(`${d.url}/users/1`);
    expect(count(parseMetrics(await registry.metrics()), { route: '/users/:id' })).toBe(2);
  });

  it('keeps custom label values with spaces apart', async () => {
    const { url } = await start({
      defaultMetrics: false,
      customLabels: {
        names: ['a', 'b'],
        values: (req) => ({
          a: decodeURIComponent(String(req.headers['x-a'])),
          b: decodeURIComponent(String(req.headers['x-b'])),
        }),
      },
    });
    await fetch(`${url}/users/1`, { headers: { 'x-a': 'x%20y', 'x-b': 'z' } });
    await fetch(`${url}/users/1`, { headers: { 'x-a': 'x', 'x-b': 'y%20z' } });
    await fetch(`${url}/users/1`, { headers: { 'x-a': 'x', 'x-b': 'y%20z' } });
    const samples = parseMetrics((await scrape(url)).text);
    expect(count(samples, { route: '/users/:id', a: 'x y', b: 'z' })).toBe(1);
    expect(count(samples, { route: '/users/:id', a: 'x', b: 'y z' })).toBe(2);
  });

  it('counts with empty custom values when customLabels.values throws, and says so once', async () => {
    const warnings: string[] = [];
    const { url } = await start({
      defaultMetrics: false,
      logger: { warn: (_fields, msg) => void warnings.push(msg) },
      customLabels: {
        names: ['tier'],
        values: () => {
          throw new Error('no tier');
        },
      },
    });
    await fetch(`${url}/users/1`);
    await fetch(`${url}/users/2`);
    const samples = parseMetrics((await scrape(url)).text);
    expect(count(samples, { route: '/users/:id', tier: '' })).toBe(2);
    expect(warnings).toEqual([
      'metrics.customLabels.values threw: no tier (obskit carries on; reported once)',
    ]);
  });

  it('leaves out the route templates in excludePaths and what exclude says, on both frameworks', async () => {
    const { url } = await start({
      defaultMetrics: false,
      excludePaths: ['/users/:id', '__unmatched__'],
      exclude: (req) => req.headers['x-synthetic'] === '1',
    });
    await fetch(`${url}/users/1`);
    await fetch(`${url}/nowhere`);
    await fetch(`${url}/v1/items/3`, { headers: { 'x-synthetic': '1' } });
    await fetch(`${url}/v1/items/4`);
    const samples = parseMetrics((await scrape(url)).text);
    const counted = samples.filter((s) => s.name === 'http_requests_total');
    expect(counted.map((s) => [s.labels.route, s.value])).toEqual([['/v1/items/:id', 1]]);
    expect(samples.find((s) => s.name === 'http_requests_in_flight')?.value).toBe(0);
  });

  it('records a response that fails before its head is sent as a 500', async () => {
    const { url } = await start({ defaultMetrics: false });
    await fetch(`${url}/destroyed`).catch(() => undefined);
    let samples: Sample[] = [];
    await waitFor(
      async () => {
        samples = parseMetrics((await scrape(url)).text);
        return count(samples, { route: '/destroyed' }) !== undefined;
      },
      5000,
      'the failed response to be counted',
    );
    expect(count(samples, { method: 'GET', route: '/destroyed', status_code: '500' })).toBe(1);
    expect(samples.find((s) => s.name === 'http_requests_in_flight')?.value).toBe(0);
  });

  it("records the request's own size in http_request_size_bytes, the response's in the other", async () => {
    const { url } = await start({ defaultMetrics: false, sizes: true });
    const response = await fetch(`${url}/upload`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'x'.repeat(5000),
    });
    expect(await response.text()).toBe('ok');
    const samples = parseMetrics((await scrape(url)).text);
    const bucket = (name: string, le: string) =>
      samples.find(
        (s) => s.name === `${name}_bucket` && s.labels.route === '/upload' && s.labels.le === le,
      )?.value;
    // 5000 bytes in: above 1000, within 10000. 2 bytes out: within 100.
    expect(bucket('http_request_size_bytes', '1000')).toBe(0);
    expect(bucket('http_request_size_bytes', '10000')).toBe(1);
    expect(bucket('http_response_size_bytes', '100')).toBe(1);
    expect(
      samples.find((s) => s.name === 'http_request_size_bytes_sum' && s.labels.route === '/upload')
        ?.value,
    ).toBe(5000);
  });

  it('answers 403 to a wrong bearer token of the right length', async () => {
    const { url } = await start({ defaultMetrics: false, endpoint: { bearerToken: 's3cret' } });
    const wrong = await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer s3creX' } });
    expect(wrong.status).toBe(403);
    expect(await wrong.text()).not.toContain('http_requests');
  });

  it('denies /metrics when authorize throws, and says so once', async () => {
    const warnings: string[] = [];
    const { url } = await start({
      defaultMetrics: false,
      logger: { warn: (_fields, msg) => void warnings.push(msg) },
      endpoint: {
        authorize: async () => {
          throw new Error('auth backend down');
        },
      },
    });
    expect((await fetch(`${url}/metrics`)).status).toBe(403);
    expect((await fetch(`${url}/metrics`)).status).toBe(403);
    expect(warnings).toEqual([
      'metrics.endpoint.authorize threw: auth backend down (obskit carries on; reported once)',
    ]);
  });

  it('gives no exemplar for an unsampled trace, and a counter exemplar of 1 for a sampled one', async () => {
    const { url } = await start({ defaultMetrics: false });
    await fetch(`${url}/users/1`, { headers: { 'x-test-trace': '0' } });
    const unsampled = parseMetrics((await scrape(url, 'application/openmetrics-text')).text);
    expect(unsampled.filter((s) => s.exemplar !== undefined)).toEqual([]);
    slowRoute.release();
    await fetch(`${url}/slow`, { headers: { 'x-test-trace': '1' } });
    const sampled = parseMetrics((await scrape(url, 'application/openmetrics-text')).text);
    const counter = sampled.find(
      (s) => s.name === 'http_requests_total' && s.labels.route === '/slow',
    );
    // `{trace_id="…",span_id="…"} 1 <timestamp>`: the increment, not the duration.
    expect(counter?.exemplar).toMatch(/^\{[^}]*\} 1 \d+(\.\d+)?$/);
    // A bucket's exemplar holds the observed duration: the one /slow request's, its whole sum.
    const bucket = sampled.find(
      (s) =>
        s.name === 'http_request_duration_seconds_bucket' &&
        s.labels.route === '/slow' &&
        s.exemplar !== undefined,
    );
    const sum = sampled.find(
      (s) => s.name === 'http_request_duration_seconds_sum' && s.labels.route === '/slow',
    )?.value;
    expect(sum).toBeGreaterThan(0);
    expect(Number(bucket?.exemplar?.split(' ')[1])).toBeCloseTo(sum!, 9);
  });

  it('passes promtool check metrics', async () => {
    const { url } = await start({ sizes: true });
    await fetch(`${url}/users/1`, { headers: { 'x-test-trace': '1' } });
    await fetch(`${url}/nope`);
    const dir = mkdtempSync(join(tmpdir(), 'obskit-promtool-'));
    for (const [name, accept] of [
      ['plain', undefined],
      ['openmetrics', 'application/openmetrics-text'],
    ] as const) {
      const text = (await scrape(url, accept)).text;
      const file = join(dir, `${name}.txt`);
      writeFileSync(file, text);
      const problems = await promtoolProblems(file);
      // obskit's own metrics must be clean; prom-client's runtime metrics keep their names.
      expect(problems.filter((p) => !PROM_CLIENT_KNOWN.some((k) => p.startsWith(k)))).toEqual([]);
    }
  });
});

/** prom-client runtime metrics whose names promtool's lint questions (documented in the README). */
const PROM_CLIENT_KNOWN = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

async function promtoolProblems(file: string): Promise<string[]> {
  let output = '';
  try {
    await run('sh', ['-c', `promtool check metrics < "${file}"`]);
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    if (e.code === 127) {
      throw new Error(
        'promtool not found: install the Debian package "prometheus" (apt-get install prometheus)',
      );
    }
    output = `${e.stdout ?? ''}${e.stderr ?? ''}`;
    if (e.code !== 3 && e.code !== 1) throw error;
  }
  return output
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('error while linting'));
}

describe('options', () => {
  it('reject bad values with coded errors', () => {
    expect(() => createHttpMetrics({ buckets: [] })).toThrow(
      'OBSKIT_ERR_INVALID_OPTION: metrics.buckets must be a non-empty array of positive numbers, got an array of 0',
    );
    expect(() => createHttpMetrics({ prefix: '9x' })).toThrow(
      'metrics.prefix must be a metric name prefix',
    );
    expect(() => createHttpMetrics({ endpoint: { path: 'metrics' } })).toThrow(
      'metrics.endpoint.path must be a path starting with "/", got "metrics"',
    );
    expect(() =>
      createHttpMetrics({ customLabels: { names: ['route'], values: () => ({}) } }),
    ).toThrow('metrics.customLabels.names must be an array of label names');
  });

  it('adds custom labels and a prefix', async () => {
    const registry = new Registry();
    const metrics = createHttpMetrics({
      registry,
      prefix: 'shop_',
      defaultMetrics: false,
      customLabels: {
        names: ['tier'],
        values: (req) => ({ tier: req.headers['x-tier'] === 'gold' ? 'gold' : 'basic' }),
      },
    });
    const { listen } = await import('@obskit/test-support');
    const { RequestPipeline } = await import('@obskit/core/internal');
    const pipeline = new RequestPipeline({
      raw: (req: IncomingMessage) => req,
      rawReply: (res: ServerResponse) => res,
      routeAtBegin: () => '/x',
    });
    pipeline.add(metrics.step);
    const server = await listen((req, res) => {
      pipeline.begin(req, res);
      res.end('ok');
    });
    closers.push(server.close);
    await fetch(server.url, { headers: { 'x-tier': 'gold' } });
    await fetch(server.url);
    const samples = parseMetrics(await registry.metrics());
    expect(
      samples.find((s) => s.name === 'shop_http_requests_total' && s.labels.tier === 'gold')?.value,
    ).toBe(1);
    expect(
      samples.find((s) => s.name === 'shop_http_requests_total' && s.labels.tier === 'basic')
        ?.value,
    ).toBe(1);
  });
});
