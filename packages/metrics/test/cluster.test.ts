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
let appPort = 0;
let metricsPort = 0;

beforeAll(async () => {
  child = spawn(process.execPath, [fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the cluster did not start: ${out}`)), 15_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
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
  });
});

describe('cluster options', () => {
  it('outside a cluster: a worker shares nothing, the primary merges no worker', async () => {
    expect(() => shareClusterMetrics(new Registry())).not.toThrow();
    expect(await clusterMetrics().metrics()).toBe('\n');
    expect(() => shareClusterMetrics({} as never)).toThrow(
      'OBSKIT_ERR_INVALID_OPTION: cluster.registry must be a prom-client Registry',
    );
    await expect(serveClusterMetrics({ port: -1 })).rejects.toThrow('cluster.port');
  });
});
