import { connect } from 'node:net';
import { validate as uuidValidate, version as uuidVersion } from 'uuid';
import { afterEach, describe, expect, it } from 'vitest';
import { runWithRequestContext } from '@obskit/core';
import { httpRequestsAnnounced, quietLogger } from '@obskit/test-support';
import {
  createRequestIdResolver,
  isValidRequestId,
  propagateRequestId,
  requestIdHeaders,
} from '../src/index.js';
import { echoServer, frameworks, type Running } from './frameworks.js';

const httpHeaderable = httpRequestsAnnounced();

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** Sends raw header bytes (duplicates and non-ASCII included), which fetch would refuse or merge. */
function rawGet(
  url: string,
  headers: [string, string][],
): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (data += chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const [head = '', body = ''] = data.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const parsed: Record<string, string> = {};
      for (const line of lines) {
        const i = line.indexOf(':');
        parsed[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers: parsed, body });
    });
    const lines = headers.map(([k, v]) => `${k}: ${v}`).join('\r\n');
    // Written, not ended: a client that half-closes first makes Node abort the request.
    socket.write(
      Buffer.from(
        `GET /ok HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n${lines}\r\n\r\n`,
        'latin1',
      ),
    );
  });
}

describe.each(frameworks)('$name', (framework) => {
  async function start(...args: Parameters<typeof framework.start>): Promise<Running> {
    const running = await framework.start(...args);
    closers.push(() => running.close());
    return running;
  }

  it('echoes a valid incoming id and uses it everywhere in the request', async () => {
    const { url, sink } = await start();
    const response = await fetch(`${url}/ok`, { headers: { 'x-request-id': 'abc-123_x.y:z' } });
    expect(response.headers.get('x-request-id')).toBe('abc-123_x.y:z');
    expect(await response.json()).toEqual({
      id: 'abc-123_x.y:z',
      context: 'abc-123_x.y:z',
      fromService: 'abc-123_x.y:z',
    });
    const lines = sink.lines().filter((l) => l.msg === 'handler log' || l.msg === 'service called');
    expect(lines).toHaveLength(2);
    for (const line of lines)
      expect(line.reqId ?? (line.req as { id?: string })?.id).toBe('abc-123_x.y:z');
    expect(lines.find((l) => l.msg === 'service called')?.reqId).toBe('abc-123_x.y:z');
  });

  it('generates a UUID v7 when the header is missing or empty', async () => {
    const { url } = await start();
    const missing = await fetch(`${url}/ok`);
    const id = missing.headers.get('x-request-id') ?? '';
    expect(id).toMatch(UUID_V7);
    expect(((await missing.json()) as { id: string }).id).toBe(id);
    const empty = await fetch(`${url}/ok`, { headers: { 'x-request-id': '' } });
    expect(empty.headers.get('x-request-id')).toMatch(UUID_V7);
  });

  it.each([
    ['too long', 'a'.repeat(129)],
    ['a space', 'abc def'],
    ['a quote', 'abc"def'],
    ['a brace', 'abc{def}'],
    ['markup', '<script>alert(1)</script>'],
  ])('replaces an id with %s and never reflects it', async (_what, bad) => {
    const { url, sink } = await start();
    const response = await rawGet(url, [['x-request-id', bad]]);
    expect(response.status).toBe(200);
    expect(response.headers['x-request-id']).toMatch(UUID_V7);
    expect(response.body).not.toContain(bad);
    for (const line of sink.lines()) {
      expect(line.reqId).not.toBe(bad);
      expect((line.req as { id?: unknown } | undefined)?.id).not.toBe(bad);
    }
  });

  it('replaces a non-ASCII id', async () => {
    const { url } = await start();
    const response = await rawGet(url, [['x-request-id', 'caf\u00e9']]);
    expect(response.headers['x-request-id']).toMatch(UUID_V7);
  });

  it('accepts exactly 128 characters', async () => {
    const { url } = await start();
    const id = 'b'.repeat(128);
    const response = await fetch(`${url}/ok`, { headers: { 'x-request-id': id } });
    expect(response.headers.get('x-request-id')).toBe(id);
  });

  it('replaces a repeated header', async () => {
    const { url } = await start();
    const response = await rawGet(url, [
      ['x-request-id', 'first'],
      ['x-request-id', 'second'],
    ]);
    const echoed = response.headers['x-request-id'];
    expect(echoed).toMatch(UUID_V7);
  });

  it('reads the header name in any case, and a repeat in another case still counts', async () => {
    const { url } = await start();
    const mixed = await rawGet(url, [['X-Request-ID', 'mixed-case-1']]);
    expect(mixed.headers['x-request-id']).toBe('mixed-case-1');
    const repeated = await rawGet(url, [
      ['X-Request-Id', 'first'],
      ['x-request-id', 'second'],
    ]);
    expect(repeated.headers['x-request-id']).toMatch(UUID_V7);
  });

  it('replaces a repeated header even when a custom rule accepts anything', async () => {
    const { url } = await start({ validate: () => true });
    const response = await rawGet(url, [
      ['x-request-id', 'first'],
      ['x-request-id', 'second'],
    ]);
    expect(response.headers['x-request-id']).toMatch(UUID_V7);
    const single = await rawGet(url, [['x-request-id', 'any thing']]);
    expect(single.headers['x-request-id']).toBe('any thing');
  });

  it('shows the id header to the handler, which can replace it', async () => {
    const { url } = await start();
    const seen = await fetch(`${url}/seen`, { headers: { 'x-request-id': 'seen-1' } });
    expect(await seen.json()).toEqual({ header: 'seen-1' });
    const replaced = await fetch(`${url}/replaced`, { headers: { 'x-request-id': 'seen-2' } });
    expect(replaced.headers.get('x-request-id')).toBe('replaced-by-handler');
  });

  it('echoes the id on 404 and on thrown errors', async () => {
    const { url } = await start();
    const notFound = await fetch(`${url}/nowhere`, { headers: { 'x-request-id': 'nf-1' } });
    expect(notFound.status).toBe(404);
    expect(notFound.headers.get('x-request-id')).toBe('nf-1');
    const failed = await fetch(`${url}/boom`, { headers: { 'x-request-id': 'err-1' } });
    expect(failed.status).toBe(500);
    expect(failed.headers.get('x-request-id')).toBe('err-1');
    const generated = await fetch(`${url}/boom`);
    expect(generated.headers.get('x-request-id')).toMatch(UUID_V7);
  });

  it('keeps 100 concurrent requests apart', async () => {
    const { url, sink } = await start();
    const results = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const id = `c-${i}`;
        const response = await fetch(`${url}/ok`, { headers: { 'x-request-id': id } });
        return {
          id,
          header: response.headers.get('x-request-id'),
          body: (await response.json()) as Record<string, string>,
        };
      }),
    );
    for (const r of results) {
      expect(r.header).toBe(r.id);
      expect(r.body).toEqual({ id: r.id, context: r.id, fromService: r.id });
    }
    const serviceLines = sink.lines().filter((l) => l.msg === 'service called');
    expect(new Set(serviceLines.map((l) => l.reqId)).size).toBe(100);
  });

  it('ignores the header with trustIncoming: false, or when the function says no', async () => {
    const edge = await start({ trustIncoming: false });
    const r1 = await fetch(`${edge.url}/ok`, { headers: { 'x-request-id': 'caller-chosen' } });
    expect(r1.headers.get('x-request-id')).toMatch(UUID_V7);
    const picky = await start({ trustIncoming: (req) => req.headers['x-internal'] === 'yes' });
    const r2 = await fetch(`${picky.url}/ok`, {
      headers: { 'x-request-id': 'kept', 'x-internal': 'yes' },
    });
    expect(r2.headers.get('x-request-id')).toBe('kept');
    const r3 = await fetch(`${picky.url}/ok`, { headers: { 'x-request-id': 'dropped' } });
    expect(r3.headers.get('x-request-id')).toMatch(UUID_V7);
  });

  it('takes a custom header, validator and generator', async () => {
    let n = 0;
    const { url } = await start({
      header: 'X-Correlation-Id',
      validate: (id) => id.startsWith('ok/'),
      generate: () => `gen-${++n}`,
    });
    const kept = await fetch(`${url}/ok`, { headers: { 'x-correlation-id': 'ok/1' } });
    expect(kept.headers.get('x-correlation-id')).toBe('ok/1');
    const replaced = await fetch(`${url}/ok`, { headers: { 'x-correlation-id': 'nope' } });
    expect(replaced.headers.get('x-correlation-id')).toBe('gen-1');
    const joined = await fetch(`${url}/ok`, { headers: { 'x-correlation-id': 'ok/1, ok/2' } });
    expect(joined.headers.get('x-correlation-id')).toBe('gen-2');
  });

  it('carries the id to outgoing fetch and node:http calls by default', async () => {
    const downstream = await echoServer();
    closers.push(downstream.close);
    const { url } = await start({}, downstream.url);
    const body = (await (
      await fetch(`${url}/ok`, { headers: { 'x-request-id': 'out-1' } })
    ).json()) as { viaFetch: Record<string, string>; viaHttp: Record<string, string> };
    expect(body.viaFetch['x-request-id']).toBe('out-1');
    // node:http calls take it where Node announces them before their headers (22.14+).
    expect(body.viaHttp['x-request-id']).toBe(httpHeaderable ? 'out-1' : undefined);
  });

  it('never overrides an id the caller set on the outgoing call', async () => {
    const downstream = await echoServer();
    closers.push(downstream.close);
    const { url } = await start({}, downstream.url);
    const body = (await (
      await fetch(`${url}/own`, { headers: { 'x-request-id': 'incoming-2' } })
    ).json()) as { viaFetch: Record<string, string>; viaHttp: Record<string, string> };
    expect(body.viaFetch['x-request-id']).toBe('set-by-caller');
    expect(body.viaHttp['x-request-id']).toBe('set-by-caller');
  });

  it('keeps ids in with propagate: false, and sends them to listed hosts only', async () => {
    const downstream = await echoServer();
    closers.push(downstream.close);
    const quiet = await start({ propagate: false }, downstream.url);
    const none = (await (
      await fetch(`${quiet.url}/ok`, { headers: { 'x-request-id': 'in-only' } })
    ).json()) as { viaFetch: Record<string, string>; viaHttp: Record<string, string> };
    expect(none.viaFetch['x-request-id']).toBeUndefined();
    expect(none.viaHttp['x-request-id']).toBeUndefined();
    const elsewhere = await start({ propagate: { hosts: ['api.internal'] } }, downstream.url);
    const denied = (await (
      await fetch(`${elsewhere.url}/ok`, { headers: { 'x-request-id': 'not-here' } })
    ).json()) as { viaFetch: Record<string, string> };
    expect(denied.viaFetch['x-request-id']).toBeUndefined();
    const listed = await start(
      { propagate: { hosts: ['api.internal', '127.0.0.1'] } },
      downstream.url,
    );
    const allowed = (await (
      await fetch(`${listed.url}/ok`, { headers: { 'x-request-id': 'listed-1' } })
    ).json()) as { viaFetch: Record<string, string> };
    expect(allowed.viaFetch['x-request-id']).toBe('listed-1');
  });

  it('sends the id under a custom header name, the one it reads', async () => {
    const downstream = await echoServer();
    closers.push(downstream.close);
    const { url } = await start({ header: 'X-Correlation-Id' }, downstream.url);
    const body = (await (
      await fetch(`${url}/ok`, { headers: { 'x-correlation-id': 'corr-1' } })
    ).json()) as { viaFetch: Record<string, string> };
    expect(body.viaFetch['x-correlation-id']).toBe('corr-1');
    expect(body.viaFetch['x-request-id']).toBeUndefined();
  });

  it('never trusts the caller when trustIncoming throws, and says so once', async () => {
    const warnings: string[] = [];
    const logger = { warn: (_fields: object, msg: string) => void warnings.push(msg) };
    const { url } = await start({
      logger,
      trustIncoming: () => {
        throw new Error('lookup failed');
      },
    });
    for (const id of ['caller-1', 'caller-2']) {
      const response = await fetch(`${url}/ok`, { headers: { 'x-request-id': id } });
      expect(response.headers.get('x-request-id')).toMatch(UUID_V7);
    }
    expect(warnings).toEqual([
      'requestId.trustIncoming threw: lookup failed (obskit carries on; reported once)',
    ]);
  });
});

describe('framework entries', () => {
  it('export the outgoing-call helpers too', async () => {
    const [fastifyEntry, expressEntry] = await Promise.all([
      import('../src/fastify.js'),
      import('../src/express.js'),
    ]);
    for (const entry of [fastifyEntry, expressEntry]) {
      expect(entry.propagateRequestId).toBe(propagateRequestId);
      expect(entry.requestIdHeaders).toBeTypeOf('function');
    }
  });
});

describe('requestIdHeaders', () => {
  it('gives the current id under the default or a custom header name', async () => {
    expect(requestIdHeaders()).toEqual({});
    await runWithRequestContext({ reqId: 'ctx-1' }, async () => {
      expect(requestIdHeaders()).toEqual({ 'x-request-id': 'ctx-1' });
      expect(requestIdHeaders('X-Correlation-Id')).toEqual({ 'x-correlation-id': 'ctx-1' });
    });
  });
});

describe('propagateRequestId', () => {
  it('carries the id of a context no adapter set up (a job), until stopped', async () => {
    const downstream = await echoServer();
    closers.push(downstream.close);
    const call = () =>
      runWithRequestContext({ reqId: 'job-7' }, async () => {
        const headers = (await (await fetch(downstream.url)).json()) as Record<string, string>;
        return headers['x-request-id'];
      });
    expect(await call()).toBeUndefined();
    const stop = propagateRequestId();
    closers.push(async () => stop());
    expect(await call()).toBe('job-7');
    stop();
    expect(await call()).toBeUndefined();
  });
});

describe('resolver', () => {
  it('validates the default rule', () => {
    expect(isValidRequestId('0190b7c4-7c1e-7a4e-9b1a-3c2d4e5f6a7b')).toBe(true);
    expect(isValidRequestId('a'.repeat(129))).toBe(false);
    expect(isValidRequestId('a\nb')).toBe(false);
    expect(isValidRequestId(42)).toBe(false);
  });

  it('falls back to UUID v7 when a custom generator throws or returns nothing', () => {
    const throwing = createRequestIdResolver({
      logger: quietLogger(),
      generate: () => {
        throw new Error('no');
      },
    });
    const empty = createRequestIdResolver({ generate: () => '' });
    const req = { headers: {} } as Parameters<typeof throwing.resolve>[0];
    expect(throwing.resolve(req)).toMatch(UUID_V7);
    expect(empty.resolve(req)).toMatch(UUID_V7);
  });

  it('generates ids the uuid package reads as v7: distinct, ordered, stamped with the time', () => {
    const { resolve } = createRequestIdResolver();
    const req = { headers: {} } as Parameters<typeof resolve>[0];
    // Several thousand ids over several milliseconds: past many refills of the random pool,
    // many ids per millisecond, each stamped with the millisecond it was made in.
    const ids: string[] = [];
    const made: [number, number][] = [];
    while (ids.length < 5000 || made.at(-1)![1] - made[0]![0] < 3) {
      const before = Date.now();
      ids.push(resolve(req));
      made.push([before, Date.now()]);
    }
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(id).toMatch(UUID_V7);
      expect(uuidValidate(id) && uuidVersion(id)).toBe(7);
    }
    // Time-ordered: sorting as strings keeps the order of generation.
    expect([...ids].sort()).toEqual(ids);
    const stamp = (id: string) => Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16);
    ids.forEach((id, i) => {
      const [before, after] = made[i]!;
      expect(stamp(id)).toBeGreaterThanOrEqual(before);
      expect(stamp(id)).toBeLessThanOrEqual(after);
    });
    // The 74 bits after the timestamp vary: no two ids share their random tail.
    expect(new Set(ids.map((id) => id.slice(24))).size).toBe(ids.length);
  });

  it('treats a throwing validator as a no and a throwing generator as UUID v7, saying so once each', () => {
    const warnings: string[] = [];
    const logger = { warn: (_fields: object, msg: string) => void warnings.push(msg) };
    const r = createRequestIdResolver({
      logger,
      validate: () => {
        throw new Error('x');
      },
      generate: () => {
        throw new Error('y');
      },
    });
    const req = { headers: { 'x-request-id': 'abc' } } as never;
    expect(r.resolve(req)).toMatch(UUID_V7);
    expect(r.resolve(req)).toMatch(UUID_V7);
    expect(warnings.map((w) => w.split(' (')[0])).toEqual([
      'requestId.validate threw: x',
      'requestId.generate threw: y',
    ]);
  });

  it('rejects bad options with coded errors', () => {
    expect(() => createRequestIdResolver({ header: 'bad header' })).toThrow(
      'OBSKIT_ERR_INVALID_OPTION: requestId.header must be a valid HTTP header name, got "bad header"',
    );
    expect(() => createRequestIdResolver({ validate: 'yes' as never })).toThrow(
      'requestId.validate must be a function, got "yes"',
    );
    expect(() => createRequestIdResolver({ trustIncoming: 'always' as never })).toThrow(
      'requestId.trustIncoming must be a boolean or a function, got "always"',
    );
  });
});

describe('node:http propagation on this Node.js', () => {
  it('is said once, at the first node:http call, where such calls cannot take the id', async () => {
    const { execFile } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
    const script = `
      const { createServer, get } = await import('node:http');
      const { createRequestIds } = await import(process.argv[1]);
      const said = [];
      const logger = { warn: (_fields, msg) => said.push(msg) };
      createRequestIds({ logger });
      createRequestIds({ logger });
      const server = createServer((_req, res) => res.end('ok'));
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      for (let i = 0; i < 2; i++) {
        await new Promise((resolve, reject) =>
          get('http://127.0.0.1:' + server.address().port + '/', (res) => {
            res.resume();
            res.on('end', resolve);
          }).on('error', reject));
      }
      server.close();
      process.stdout.write(JSON.stringify(said));`;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        ['--input-type=module', '-e', script, dist],
        { timeout: 15_000 },
        (error, stdout, stderr) =>
          error ? reject(new Error(stderr || error.message)) : resolve(stdout),
      );
    });
    const said = JSON.parse(out) as string[];
    if (httpHeaderable) expect(said).toEqual([]);
    else {
      expect(said).toHaveLength(1);
      expect(said[0]).toContain('outgoing node:http calls carry no trace context');
    }
  });
});
