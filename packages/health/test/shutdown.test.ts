import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { sleep, waitFor } from '@obskit/test-support';
import { afterEach, describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/server.mjs', import.meta.url));
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

interface Service {
  child: ChildProcess;
  url: string;
  /** Standard error: the fixture's markers. */
  markers(): string;
  /** Standard output: the log, unless `readStdout: false`. */
  log(): string;
  exited: Promise<{ code: number | null; at: number }>;
}

async function startService(
  framework: string,
  env: Record<string, string> = {},
  { readStdout = true } = {},
): Promise<Service> {
  const child = spawn(process.execPath, [fixture, framework], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let markers = '';
  let log = '';
  child.stderr?.on('data', (c: Buffer) => (markers += c.toString()));
  if (readStdout) child.stdout?.on('data', (c: Buffer) => (log += c.toString()));
  else child.stdout?.pause();
  const exited = once(child, 'exit').then(([code]) => ({
    code: code as number | null,
    at: performance.now(),
  }));
  await waitFor(() => /LISTENING \d+/.test(markers), 10_000, `the service to listen:\n${markers}`);
  const port = Number(/LISTENING (\d+)/.exec(markers)?.[1]);
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    markers: () => markers,
    log: () => log,
    exited,
  };
}

/** Keeps `connections` keep-alive clients busy until `stop()`; counts answers and failures. */
function keepAliveLoad(url: string, connections: number) {
  let running = true;
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  let closesSeen = 0;
  const loops = Array.from({ length: connections }, async () => {
    while (running) {
      try {
        const response = await fetch(`${url}/fast`);
        await response.text();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.headers.get('connection') === 'close') closesSeen++;
      } catch (error) {
        failures.push(String((error as { cause?: unknown }).cause ?? error));
      }
    }
  });
  return {
    /** Answers so far. */
    answered: () => [...statuses.values()].reduce((n, v) => n + v, 0),
    async stop() {
      running = false;
      await Promise.all(loops);
      return { statuses, failures, closesSeen };
    },
  };
}

describe.each(['fastify', 'express'])('graceful shutdown on %s', (framework) => {
  it('drains: in-flight request completes, ready 503 and live 200, new requests served, hooks once, exit 0', async () => {
    const service = await startService(framework, { DRAIN_MS: '400', SLOW_MS: '700' });
    expect((await fetch(`${service.url}/health/ready`)).status).toBe(200);
    const inFlight = fetch(`${service.url}/slow`).then(async (r) => ({
      status: r.status,
      text: await r.text(),
    }));
    await waitFor(() => service.markers().includes('SLOW started'), 5000, 'the slow request');
    service.child.kill('SIGTERM');
    await waitFor(() => service.markers().includes('START HOOK ran'), 5000, 'the shutdown start');
    const ready = await fetch(`${service.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { status: string }).status).toBe('shutting_down');
    expect((await fetch(`${service.url}/health/live`)).status).toBe(200);
    const fast = await fetch(`${service.url}/fast`);
    expect(await fast.text()).toBe('fast');
    expect(fast.headers.get('connection')).toBe('close');
    service.child.kill('SIGTERM'); // a second signal changes nothing
    expect(await inFlight).toEqual({ status: 200, text: 'slow done' });
    const { code } = await service.exited;
    expect(code).toBe(0);
    expect(service.markers().match(/HOOK ran/g)).toHaveLength(2); // the start hook and the hook
    expect(service.log()).toContain('shutdown: readiness now 503, draining');
    expect(service.log()).toContain('shutdown already in progress; signal ignored');
    expect(service.log()).toContain('shutdown: complete');
  });

  it('keeps keep-alive clients served across SIGTERM: no reset, no 5xx, Connection: close from the signal on', async () => {
    const service = await startService(framework, { DRAIN_MS: '1500', SLOW_MS: '2000' });
    const load = keepAliveLoad(service.url, 8);
    // Every client connected and answered before the signal.
    await waitFor(() => load.answered() >= 40, 5000, 'the load to run');
    const slow = fetch(`${service.url}/slow`).then((r) => r.status);
    service.child.kill('SIGTERM');
    await waitFor(() => service.markers().includes('START HOOK ran'), 5000, 'the shutdown start');
    expect((await fetch(`${service.url}/health/ready`)).status).toBe(503);
    expect((await fetch(`${service.url}/health/live`)).status).toBe(200);
    // Load on through most of the drain (1500 ms), as a load balancer does until it sees
    // readiness fail: this wait is the behaviour under test, well inside the drain delay.
    await sleep(900);
    const { statuses, failures, closesSeen } = await load.stop();
    expect(failures).toEqual([]);
    expect([...statuses.keys()]).toEqual([200]);
    expect(statuses.get(200)).toBeGreaterThan(50);
    expect(closesSeen).toBeGreaterThan(0);
    expect(await slow).toBe(200);
    expect((await service.exited).code).toBe(0);
  }, 30_000);

  it('lets a second signal during the shutdown hooks change nothing', async () => {
    const service = await startService(framework, { DRAIN_MS: '50', HOOK_MS: '800' });
    service.child.kill('SIGTERM');
    await waitFor(() => service.markers().includes('HOOK started'), 5000, 'the hooks to start');
    service.child.kill('SIGTERM');
    const { code } = await service.exited;
    expect(code).toBe(0);
    expect(service.child.signalCode).toBeNull();
    expect(service.markers()).toContain('HOOK ran');
    expect(service.log()).toContain('shutdown already in progress; signal ignored');
    expect(service.log()).toContain('shutdown: complete');
  });

  it('runs onShutdownStart before the drain, and the hooks after the server closed', async () => {
    const service = await startService(framework, { DRAIN_MS: '200' });
    service.child.kill('SIGTERM');
    await service.exited;
    const markers = service.markers();
    expect(markers.indexOf('START HOOK ran')).toBeGreaterThan(-1);
    expect(markers.indexOf('START HOOK ran')).toBeLessThan(markers.indexOf('HOOK started'));
  });

  it('a held job delays the exit until it is released', async () => {
    const service = await startService(framework, { DRAIN_MS: '50' });
    await (await fetch(`${service.url}/hold?ms=900`)).text();
    const signalled = performance.now();
    service.child.kill('SIGTERM');
    const { code, at } = await service.exited;
    expect(code).toBe(0);
    expect(at - signalled).toBeGreaterThan(700);
    expect(service.log()).toContain('shutdown: waiting for held work');
  });

  it('past the hard timeout it logs what is still running and exits 1', async () => {
    const service = await startService(framework, {
      DRAIN_MS: '50',
      TIMEOUT_MS: '500',
      SLOW_MS: '5000',
    });
    await (await fetch(`${service.url}/hold`)).text();
    const slow = fetch(`${service.url}/slow`).catch(() => undefined);
    await waitFor(() => service.markers().includes('SLOW started'), 5000, 'the slow request');
    service.child.kill('SIGTERM');
    const { code } = await service.exited;
    await slow;
    expect(code).toBe(1);
    // What was left, with counts: the request still being served and the held work by name.
    expect(service.log()).toContain('still running: 1 in-flight request(s), held job-42');
    expect(service.markers()).not.toContain('HOOK started');
  });

  it('keeps answering probes and keeps its deadline while standard output takes nothing', async () => {
    const service = await startService(
      framework,
      { DRAIN_MS: '50', TIMEOUT_MS: '1500' },
      { readStdout: false },
    );
    // 40 MB of log lines: far more than the pipe holds.
    await (await fetch(`${service.url}/spam?n=80000`)).text();
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      expect((await fetch(`${service.url}/health/live`)).status).toBe(200);
      times.push(performance.now() - started);
    }
    expect(Math.max(...times)).toBeLessThan(100);
    await (await fetch(`${service.url}/hold`)).text();
    const signalled = performance.now();
    service.child.kill('SIGTERM');
    const { code, at } = await service.exited;
    // The hold is never released: the deadline ends it, on time, with standard output blocked.
    expect(code).toBe(1);
    expect(at - signalled).toBeLessThan(4000);
  }, 30_000);
});
