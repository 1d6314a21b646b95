// Spans that cannot be delivered are never lost in silence, and never hold the exit: an obskit
// service in a child process exporting to a collector that refuses connections or accepts and
// never answers.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { listen, waitFor } from '@obskit/test-support';
import { afterEach, describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/export-app.mjs', import.meta.url));
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A collector that takes connections and requests and never answers. */
async function hangingCollector(): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((r) => server.close(r));
  });
  return (server.address() as { port: number }).port;
}

async function refusingCollector(): Promise<number> {
  const running = await listen(() => {});
  await running.close();
  return running.port;
}

async function start(framework: string, collectorPort: number) {
  const child = spawn(process.execPath, [fixture, framework], {
    env: {
      ...process.env,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `http://127.0.0.1:${collectorPort}/v1/traces`,
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_EXPORTER_OTLP_TRACES_TIMEOUT: '2000',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(() => child.exitCode === null && child.kill('SIGKILL'));
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = once(child, 'exit');
  await waitFor(() => /LISTENING \d+/.test(out), 15_000, `the service:\n${out}`);
  const url = `http://127.0.0.1:${/LISTENING (\d+)/.exec(out)?.[1]}`;
  return { child, url, exited, out: () => out };
}

const lines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe.each(['fastify', 'express'])('span delivery on %s', (framework) => {
  it('counts and says once what a refusing collector lost, and exits 0', async () => {
    const service = await start(framework, await refusingCollector());
    for (let i = 0; i < 5; i++) await (await fetch(`${service.url}/work`)).text();
    let text = '';
    await waitFor(
      async () => {
        text = await (await fetch(`${service.url}/metrics`)).text();
        return /^otel_span_export_failures_total [1-9]/m.test(text);
      },
      10_000,
      'a failed export counted',
    );
    expect(text).toMatch(/^otel_spans_dropped_total\{reason="export_failed"\} [1-9]\d*$/m);
    for (let i = 0; i < 5; i++) await (await fetch(`${service.url}/work`)).text();
    service.child.kill('SIGTERM');
    const [code] = await service.exited;
    expect(code, service.out()).toBe(0);
    const failed = lines(service.out()).filter((l) =>
      String(l.msg).startsWith('span export failed'),
    );
    expect(failed).toHaveLength(1);
    expect(failed[0]?.level).toBe('warn');
  }, 30_000);

  it('cuts the flush to a hanging collector at its share of the deadline, says what was left, exits 0', async () => {
    const service = await start(framework, await hangingCollector());
    for (let i = 0; i < 5; i++) await (await fetch(`${service.url}/work`)).text();
    const signalled = performance.now();
    service.child.kill('SIGTERM');
    const [code] = await service.exited;
    const took = performance.now() - signalled;
    expect(code, service.out()).toBe(0);
    // The 4 s deadline holds: the flush had a quarter of it (1 s).
    expect(took).toBeLessThan(4000);
    const cut = lines(service.out()).find((l) =>
      String(l.msg).startsWith('shutdown: the span flush did not finish within 1000 ms'),
    );
    expect(cut, service.out()).toBeDefined();
    expect(cut?.level).toBe('warn');
    expect(Number(cut?.pending)).toBeGreaterThan(0);
    expect(service.out()).not.toContain('timed out after');
  }, 30_000);
});
