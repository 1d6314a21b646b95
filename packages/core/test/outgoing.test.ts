import diagnosticsChannel from 'node:diagnostics_channel';
import { createServer, request as httpRequest } from 'node:http';
import { httpRequestsAnnounced, listen } from '@obskit/test-support';
import { afterEach, describe, expect, it } from 'vitest';
import { addOutgoingInjector, UNDICI_REQUEST_CREATE, type OutgoingCall } from '../src/internal.js';

// Core's one outgoing injection: every injector sees each fetch and node:http call once, in
// order, before its headers are written, with where the call goes and what it carries already.
const removers: (() => void)[] = [];
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const remove of removers.splice(0)) remove();
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function echo(host = '127.0.0.1'): Promise<{ url: string; port: number }> {
  const running = await listen((req, res) => res.end(JSON.stringify(req.headers)));
  closers.push(running.close);
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${running.port}`,
    port: running.port,
  };
}

function getJson(
  url: string,
  headers: Record<string, string> = {},
): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(JSON.parse(body) as Record<string, string>));
    });
    req.on('error', reject);
    req.end();
  });
}

const clients = [
  {
    name: 'fetch',
    client: 'undici',
    call: async (url: string, headers: Record<string, string> = {}) =>
      (await (await fetch(url, { headers })).json()) as Record<string, string>,
    announced: true,
  },
  { name: 'node:http', client: 'http', call: getJson, announced: httpRequestsAnnounced() },
];

describe.each(clients)('$name', ({ client, call, announced }) => {
  it.runIf(announced)(
    'runs the injectors in order, with the call’s target, once per call',
    async () => {
      const seen: string[] = [];
      let target: Partial<OutgoingCall> = {};
      removers.push(
        addOutgoingInjector({
          order: 20,
          inject(c) {
            seen.push(`second:${c.has('x-first')}`);
            c.set('x-second', '2');
          },
        }),
        addOutgoingInjector({
          order: 10,
          inject(c) {
            target = {
              client: c.client,
              method: c.method,
              scheme: c.scheme,
              host: c.host,
              port: c.port,
              path: c.path,
            };
            seen.push(`first:${c.has('x-mine')}`);
            c.set('x-first', '1');
          },
        }),
      );
      const { url, port } = await echo();
      const headers = await call(`${url}/a/b?c=d`, { 'X-Mine': 'kept' });
      expect(seen).toEqual(['first:true', 'second:true']);
      expect(target).toEqual({
        client,
        method: 'GET',
        scheme: 'http',
        host: '127.0.0.1',
        port,
        path: '/a/b?c=d',
      });
      expect(headers).toMatchObject({ 'x-mine': 'kept', 'x-first': '1', 'x-second': '2' });
    },
  );

  it.runIf(announced)('gives an IPv6 host without brackets', async () => {
    let host = '';
    removers.push(addOutgoingInjector({ order: 10, inject: (c) => void (host = c.host) }));
    const server = createServer((_req, res) => res.end('{}'));
    await new Promise<void>((resolve, reject) =>
      server.once('error', reject).listen(0, '::1', () => resolve()),
    ).catch(() => undefined);
    const address = server.address();
    if (address === null || typeof address === 'string') return; // no IPv6 loopback here
    closers.push(() => new Promise((r) => server.close(r)));
    await call(`http://[::1]:${address.port}/`);
    expect(host).toBe('::1');
  });
});

describe('addOutgoingInjector', () => {
  it('subscribes while an injector is there and stops with the last one', () => {
    const channel = diagnosticsChannel.channel(UNDICI_REQUEST_CREATE);
    const before = channel.hasSubscribers;
    const removeA = addOutgoingInjector({ order: 1, inject: () => {} });
    const removeB = addOutgoingInjector({ order: 2, inject: () => {} });
    expect(channel.hasSubscribers).toBe(true);
    removeA();
    expect(channel.hasSubscribers).toBe(true);
    removeB();
    removeB(); // twice is harmless
    expect(channel.hasSubscribers).toBe(before);
  });
});
