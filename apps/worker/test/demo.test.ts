// The demo as an operator meets it (scripts/demo.mjs, what `npm run demo` runs after the build):
// a port in use, SIGINT and SIGTERM, and a launcher that goes away.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@obskit/test-support';
import { afterEach, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const children: ChildProcess[] = [];
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const cleanup of cleanups.splice(0)) cleanup();
});

async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  for (let i = 0; i < n; i++) {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
  }
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** Whether something listens on `port` (a probe listen fails with EADDRINUSE). */
async function listening(port: number): Promise<boolean> {
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(true));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(false)));
  });
}

interface Demo {
  child: ChildProcess;
  output(): string;
  ports: number[];
}

async function startDemo(command: string[], ports?: number[]): Promise<Demo> {
  const [api, ops] = ports ?? (await freePorts(2));
  const dataDir = mkdtempSync(join(tmpdir(), 'obskit-demo-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const child = spawn(command[0] as string, command.slice(1), {
    cwd: root,
    env: { ...process.env, PORT: String(api), OPS_PORT: String(ops), DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  return { child, output: () => output, ports: [api as number, ops as number] };
}

const script = ['node', 'scripts/demo.mjs'];

describe('the demo', () => {
  it('exits 1 with a clear message, and no banner, when a port is in use', async () => {
    const [api, ops] = await freePorts(2);
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(api, '127.0.0.1', resolve));
    cleanups.push(() => taken.close());
    const demo = await startDemo(script, [api as number, ops as number]);
    const [code] = (await once(demo.child, 'exit')) as [number | null];
    expect(code).toBe(1);
    expect(demo.output()).toContain(`port ${api} (the API) is in use`);
    expect(demo.output()).not.toContain('obskit demo is running');
  }, 30_000);

  it('stops both apps on SIGINT with exit 0, each app getting one SIGTERM; every line prefixed', async () => {
    const demo = await startDemo(script);
    await waitFor(() => demo.output().includes('obskit demo is running'), 20_000, 'the banner');
    expect(demo.output()).toContain('npm run demo');
    demo.child.kill('SIGINT');
    const [code] = (await once(demo.child, 'exit')) as [number | null];
    expect(code).toBe(0);
    const lines = demo.output().split('\n');
    const appLines = lines.filter((l) => l.startsWith('[api] ') || l.startsWith('[worker] '));
    expect(appLines.length).toBeGreaterThan(4);
    // JSON log lines only come prefixed.
    expect(lines.filter((l) => l.startsWith('{'))).toEqual([]);
    expect(appLines.filter((l) => l.includes('"reason":"SIGTERM"'))).toHaveLength(2);
    expect(demo.output()).not.toContain('signal ignored');
    for (const port of demo.ports) expect(await listening(port)).toBe(false);
  }, 40_000);

  it('stops both apps when the launcher above it goes away without passing a signal on', async () => {
    // A launcher that traps SIGTERM, so that only it ends: what npx does with `sh -c`.
    const demo = await startDemo(['sh', '-c', 'node scripts/demo.mjs; exit 0']);
    await waitFor(() => demo.output().includes('obskit demo is running'), 20_000, 'the banner');
    demo.child.kill('SIGKILL');
    await waitFor(
      async () => !(await listening(demo.ports[0]!)) && !(await listening(demo.ports[1]!)),
      15_000,
      'both apps to stop',
    );
  }, 40_000);
});
