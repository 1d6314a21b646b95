// The README's quick start exactly as written (the umbrella starts tracing itself), with one
// route added that calls a local server with fetch and with http.get: the local server sees the
// request's trace and its request id on both calls.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { httpRequestsAnnounced, listen, waitFor } from '@obskit/test-support';
import { afterEach, describe, expect, it } from 'vitest';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
const children: ChildProcess[] = [];
const files: string[] = [];
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const file of files.splice(0)) rmSync(file, { force: true });
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** The README's code block under `## <heading>`. */
function block(heading: string): string {
  const start = readme.indexOf(`## ${heading}\n`);
  const code = /```ts\n([\s\S]*?)```/.exec(readme.slice(start));
  if (start === -1 || code === null)
    throw new Error(`no code block under "## ${heading}" in README.md`);
  return code[1] as string;
}

const callOut = `
import { get as __get } from 'node:http';
const __callOut = async () => {
  const target = process.env.DOWNSTREAM;
  await (await fetch(target + '/via-fetch')).text();
  await new Promise((resolve, reject) => __get(target + '/via-http', (r) => { r.resume(); r.on('end', resolve); }).on('error', reject));
  return { ok: true };
};
`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const cases = [
  {
    name: 'Fastify',
    route: "app.get('/call', async () => __callOut());",
    after: "app.get('/users/:id'",
  },
  {
    name: 'Express',
    route:
      "app.get('/call', async (req, res) => res.json(await __callOut())); app.get('/fail', () => { throw new Error('quick start failure'); });",
    after: "app.get('/users/:id'",
  },
];

describe.each(cases)('the README quick start on $name', ({ name, route, after }) => {
  it('carries the trace and the request id to a local server over fetch and http.get', async () => {
    const code = block(name);
    const line = code.split('\n').findIndex((l) => l.startsWith(after));
    expect(line, `the ${name} block has its ${after} route`).toBeGreaterThan(0);
    const lines = code.split('\n');
    lines.splice(line + 1, 0, route);
    const file = `${packageDir}quickstart-${name.toLowerCase()}-${process.pid}.mjs`;
    writeFileSync(file, `${lines.join('\n')}\n${callOut}`);
    files.push(file);

    const seen: { path: string; headers: IncomingHttpHeaders }[] = [];
    const downstream = await listen(
      createServer((req, res) => {
        seen.push({ path: req.url ?? '', headers: req.headers });
        res.end('ok');
      }),
    );
    closers.push(downstream.close);
    const port = await freePort();
    const child = spawn(process.execPath, [file], {
      cwd: packageDir,
      env: {
        ...process.env,
        PORT: String(port),
        DOWNSTREAM: downstream.url,
        OTEL_TRACES_EXPORTER: 'none',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    let stderr = '';
    child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr?.on('data', (c: Buffer) => {
      output += c.toString();
      stderr += c.toString();
    });
    await waitFor(
      async () =>
        (await fetch(`http://127.0.0.1:${port}/health/startup`)
          .then((r) => r.status)
          .catch(() => 0)) === 200,
      15_000,
      `the ${name} quick start to start:\n${output}`,
    );
    const response = await fetch(`http://127.0.0.1:${port}/call`, {
      headers: { 'x-request-id': 'quick-start-1' },
    });
    expect(response.status, output).toBe(200);
    expect(response.headers.get('x-request-id')).toBe('quick-start-1');

    const viaFetch = seen.find((s) => s.path === '/via-fetch')?.headers;
    const viaHttp = seen.find((s) => s.path === '/via-http')?.headers;
    const traceId = String(viaFetch?.traceparent).split('-')[1];
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(viaFetch?.['x-request-id']).toBe('quick-start-1');
    // The access line of the request names the same trace.
    await waitFor(() => output.includes('"msg":"request completed"'), 5000, 'the access line');
    const access = output
      .split('\n')
      .filter((l) => l.includes('"msg":"request completed"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.path === '/call');
    expect(access).toMatchObject({ reqId: 'quick-start-1', trace_id: traceId, route: '/call' });
    if (httpRequestsAnnounced()) {
      expect(String(viaHttp?.traceparent).split('-')[1]).toBe(traceId);
      expect(viaHttp?.['x-request-id']).toBe('quick-start-1');
    } else {
      // Node.js 20 announces no node:http request before its headers: neither trace context
      // nor request id goes out on it, and that is said once, in one line.
      expect(viaHttp?.traceparent).toBeUndefined();
      expect(viaHttp?.['x-request-id']).toBeUndefined();
      expect(output.split('outgoing node:http calls carry no trace context').length - 1).toBe(1);
    }
    if (name === 'Express') {
      // The README's error answer: JSON with the request id, no stack, nothing on stderr.
      const failed = await fetch(`http://127.0.0.1:${port}/fail`, {
        headers: { 'x-request-id': 'quick-start-fail' },
      });
      expect(failed.status).toBe(500);
      expect(failed.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await failed.json()).toEqual({ error: 'internal error', reqId: 'quick-start-fail' });
      await waitFor(() => output.includes('"msg":"request failed"'), 5000, 'the error line');
      expect(stderr).not.toContain('quick start failure');
    }
    // The graceful shutdown (a 5 s drain by default) is tested elsewhere.
    child.kill('SIGKILL');
    await once(child, 'exit');
  }, 40_000);
});
