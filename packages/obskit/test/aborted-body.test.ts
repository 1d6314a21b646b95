// A client that goes away in the middle of its request body: a 499 under the route it was sent
// to, one access line, no error line and no stack on standard error, on both frameworks.
import { connect } from 'node:net';
import { createLogger } from '@obskit/core';
import { listen, logSink, waitFor } from '@obskit/test-support';
import express from 'express';
import Fastify from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { obskit as expressObskit } from '../src/express.js';
import { obskit as fastifyObskit, obskitServerOptions } from '../src/fastify.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(closers.splice(0).map((close) => close()));
});

async function start(framework: string) {
  const sink = logSink();
  const logger = createLogger({ service: 'orders', destination: sink.stream });
  const options = {
    service: 'orders',
    logger,
    tracing: { exporter: 'none' as const },
    health: { shutdown: false as const },
  };
  if (framework === 'fastify') {
    const app = Fastify(obskitServerOptions(options));
    await app.register(fastifyObskit, options);
    app.post('/orders', async (request) => ({ got: request.body }));
    await app.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => app.close());
    const port = (app.server.address() as { port: number }).port;
    return { port, url: `http://127.0.0.1:${port}`, sink, registry: app.metrics.registry };
  }
  const o = expressObskit(options);
  const app = express();
  // As in development, where Express's final handler prints the stacks of the errors it gets.
  app.set('env', 'development');
  app.use(o);
  app.post('/orders', express.json(), (req, res) => {
    res.json({ got: req.body });
  });
  app.use(o.errors());
  const running = await listen(app);
  closers.push(running.close);
  return { port: running.port, url: running.url, sink, registry: o.metrics!.registry };
}

describe.each(['fastify', 'express'])('an aborted request body on %s', (framework) => {
  it('is a 499 under its route, with no error line and nothing on stderr', async () => {
    const stderr = vi.spyOn(process.stderr, 'write');
    const consoleError = vi.spyOn(console, 'error');
    const app = await start(framework);
    const inFlight = async () =>
      (await app.registry.getSingleMetric('http_requests_in_flight')?.get())?.values[0]?.value;
    const socket = connect(app.port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(
      'POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"item":',
    );
    // Once the server has the request, the client goes away.
    await waitFor(async () => (await inFlight()) === 1, 5000, 'the request in flight');
    socket.destroy();
    await waitFor(
      () => app.sink.lines().some((l) => l.msg === 'request completed'),
      5000,
      'the access line',
    );
    const [access] = app.sink.lines().filter((l) => l.msg === 'request completed');
    expect(access).toMatchObject({ route: '/orders', statusCode: 499 });
    expect(app.sink.lines().filter((l) => l.msg === 'request failed')).toEqual([]);
    const text = await (await fetch(`${app.url}/metrics`)).text();
    expect(text).toContain(
      'http_requests_total{method="POST",route="/orders",status_code="499"} 1',
    );
    const printed = [...stderr.mock.calls, ...consoleError.mock.calls].map((c) => String(c[0]));
    expect(printed.filter((p) => p.includes('request aborted'))).toEqual([]);
  });
});
