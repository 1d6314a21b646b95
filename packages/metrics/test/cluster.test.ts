// A real two-worker node:cluster server (test/fixtures/cluster.mjs, in a child process): the
// primary's /metrics merges both workers.
import { spawn, type ChildProcess } from 'node:child_process';
import { get } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterMetrics, serveClusterMetrics, shareClusterMetrics } from '../src/index.js';
import { Registry } from 'prom-client';

const fixture = fileURLToPath(new URL('./fixtures/cluster.mjs', import.meta.url));
let child: ChildProcess;
let output = '';
let appPort = 0;
let metricsPort = 0;

beforeAll(async () => {
  child = spawn(process.execPath, [fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the cluster did not start: ${out}`)), 15_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      output += c.toString();
      const m = /READY (\d+) (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        appPort = Number(m[1]);
        metricsPort = Number(m[2]);
        resolve();
      }
    });
  });
});

afterAll(() => {
  if (child.pid !== undefined && child.exitCode === null) child.kill('SIGTERM');
});

const waitForOutput = async (text: string): Promise<void> => {
  const deadline = Date.now() + 5000;
  while (!output.includes(text)) {
    if (Date.now() > deadline) throw new Error(`no "${text}" from the cluster:\n${output}`);
    await new Promise((r) => setImmediate(r));
  }
};

// One request on a connection of its own, so the primary hands it to the next worker.
const request = (port: number, path = '/') =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });

describe('node:cluster', () => {
  it('sums counters and histograms over the workers and keeps gauges per worker', async () => {
    const workers = new Set<string>();
    for (let i = 0; i < 20; i++) workers.add((await request(appPort)).body);
    expect(workers).toEqual(new Set(['1', '2']));
    const { status, body } = await request(metricsPort, '/metrics');
    expect(status).toBe(200);
    expect(body).toContain('http_requests_total{method="GET",route="/work",status_code="200"} 20');
    expect(body).toContain(
      'http_request_duration_seconds_count{method="GET",route="/work",status_code="200"} 20',
    );
    // Gauges, one series per worker.
    for (const id of ['1', '2']) {
      expect(body).toContain(`http_requests_in_flight{worker="${id}"} 0`);
      expect(body).toMatch(new RegExp(`process_resident_memory_bytes\\{worker="${id}"\\} \\d+`));
    }
    // Counters of the runtime, summed.
    expect(body).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect((await request(metricsPort, '/other')).status).toBe(404);
    expect(body).toContain('obskit_cluster_workers 2');
    expect(body).toContain('obskit_cluster_workers_missing 0');
  });

  it('answers with the workers that did while one cannot, and says how many are missing', async () => {
    const blocked = (await request(appPort, '/block?ms=4000')).body;
    await waitForOutput(`BLOCKING ${blocked}`);
    const started = performance.now();
    const { status, body } = await request(metricsPort, '/metrics');
    expect(status).toBe(200);
    // Within the primary's 2 s wait for a worker, not the blocked worker's 4 s.
    expect(performance.now() - started).toBeLessThan(3500);
    expect(body).toContain('obskit_cluster_workers 2');
    expect(body).toContain('obskit_cluster_workers_missing 1');
    const other = blocked === '1' ? '2' : '1';
    expect(body).toContain(`http_requests_in_flight{worker="${other}"} 0`);
    expect(body).not.toContain(`http_requests_in_flight{worker="${blocked}"}`);
  }, 20_000);

  it('a second registration adds no listener; close() removes it and the worker is left out', async () => {
    const [id, same, count] = (await request(appPort, '/share-again')).body.split(' ');
    expect(same).toBe('true');
    const [leftId, before, after] = (await request(appPort, '/leave')).body.split(' ');
    expect(Number(after)).toBe(Number(before) - 1);
    if (leftId === id) expect(Number(before)).toBe(Number(count));
    const { status, body } = await request(metricsPort, '/metrics');
    expect(status).toBe(200);
    expect(body).toContain('obskit_cluster_workers_missing 1');
    expect(body).not.toContain(`http_requests_in_flight{worker="${leftId}"}`);
    // Back for the tests after this one.
    let rejoined = '';
    while (rejoined !== leftId) rejoined = (await request(appPort, '/rejoin')).body;
    expect((await request(metricsPort, '/metrics')).body).toContain(
      'obskit_cluster_workers_missing 0',
    );
  }, 20_000);
});

describe('cluster options', () => {
  it('outside a cluster: a worker shares nothing, the primary merges no worker', async () => {
    expect(() => shareClusterMetrics(new Registry())).not.toThrow();
    const alone = await clusterMetrics().metrics();
    expect(alone).toContain('obskit_cluster_workers 0\n');
    expect(alone).toContain('obskit_cluster_workers_missing 0\n');
    expect(alone).not.toMatch(/^http_/m);
    const merged = clusterMetrics();
    merged.close();
    await expect(merged.metrics()).rejects.toThrow('cluster metrics closed');
    expect(() => shareClusterMetrics({} as never)).toThrow(
      'OBSKIT_ERR_INVALID_OPTION: cluster.registry must be a prom-client Registry',
    );
    await expect(serveClusterMetrics({ port: -1 })).rejects.toThrow('cluster.port');
  });
});
