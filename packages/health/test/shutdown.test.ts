import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { sleep } from '@obskit/test-support';
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
  output(): string;
  exited: Promise<{ code: number | null; at: number }>;
}

async function startService(framework: string, env: Record<string, string> = {}): Promise<Service> {
  const child = spawn(process.execPath, [fixture, framework], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = once(child, 'exit').then(([code]) => ({
    code: code as number | null,
    at: performance.now(),
  }));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no LISTENING line:\n${output}`)), 10_000);
    const poll = setInterval(() => {
      const m = /LISTENING (\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        clearInterval(poll);
        resolve(Number(m[1]));
      }
    }, 10);
  });
  return { child, url: `http://127.0.0.1:${port}`, output: () => output, exited };
}

describe.each(['fastify', 'express'])('graceful shutdown on %s', (framework) => {
  it('drains: in-flight request completes, ready 503 and live 200, new requests served, hooks once, exit 0', async () => {
    const service = await startService(framework, { DRAIN_MS: '400', SLOW_MS: '700' });
    expect((await fetch(`${service.url}/health/ready`)).status).toBe(200);
    const inFlight = fetch(`${service.url}/slow`).then(async (r) => ({
      status: r.status,
      text: await r.text(),
    }));
    await sleep(50);
    service.child.kill('SIGTERM');
    await sleep(50);
    const ready = await fetch(`${service.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { status: string }).status).toBe('shutting_down');
    expect((await fetch(`${service.url}/health/live`)).status).toBe(200);
    expect(await (await fetch(`${service.url}/fast`)).text()).toBe('fast');
    service.child.kill('SIGTERM'); // a second signal changes nothing
    expect(await inFlight).toEqual({ status: 200, text: 'slow done' });
    const { code } = await service.exited;
    expect(code).toBe(0);
    expect(service.output().match(/HOOK ran/g)).toHaveLength(1);
    expect(service.output()).toContain('shutdown: readiness now 503, draining');
    expect(service.output()).toContain('shutdown: complete');
  });

  it('a held job delays the exit until it is released', async () => {
    const service = await startService(framework, { DRAIN_MS: '50' });
    await (await fetch(`${service.url}/hold?ms=900`)).text();
    const signalled = performance.now();
    service.child.kill('SIGTERM');
    const { code, at } = await service.exited;
    expect(code).toBe(0);
    expect(at - signalled).toBeGreaterThan(700);
    expect(service.output()).toContain('shutdown: waiting for held work');
  });

  it('past the hard timeout it logs what is still running and exits 1', async () => {
    const service = await startService(framework, { DRAIN_MS: '50', TIMEOUT_MS: '500' });
    await (await fetch(`${service.url}/hold`)).text();
    service.child.kill('SIGTERM');
    const { code } = await service.exited;
    expect(code).toBe(1);
    expect(service.output()).toContain('still running: job-42');
    expect(service.output()).not.toContain('HOOK ran');
  });
});
