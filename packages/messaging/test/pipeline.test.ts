// End to end on the real brokers: an obskit Fastify API publishes a message per request; two
// consumer processes (test/fixtures/consumer.mjs) share the queue (RabbitMQ) or the durable
// consumer (JetStream). Every message is processed once, in the trace of its request; the lag the
// API reads at scrape time rises while the consumers are gone and falls to 0 when others resume.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createLogger } from '@obskit/core';
import { logSink, waitFor } from '@obskit/test-support';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import Fastify from 'fastify';
import { obskit, obskitServerOptions } from 'obskit/fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { foldDestination } from '../src/index.js';
import { instrumentAmqp } from '../src/amqp.js';
import { instrumentJetStream } from '../src/nats.js';
import { freshQueue, freshStream, sample } from './support.js';

const fixture = fileURLToPath(new URL('./fixtures/consumer.mjs', import.meta.url));
const exporter = new InMemorySpanExporter();
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

interface Consumer {
  out: () => string;
  stopped: Promise<number>;
  child: ChildProcess;
}

async function startConsumer(system: string, name: string): Promise<Consumer> {
  const child = spawn(process.execPath, [fixture, system, name], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const stopped = new Promise<number>((resolve) =>
    child.once('exit', (code) => resolve(code ?? -1)),
  );
  await waitFor(() => out.includes('READY'), 15_000, `consumer ${system} did not start:\n${err}`);
  return { out: () => out, stopped, child };
}

const processed = (consumers: Consumer[]) =>
  consumers.flatMap((c) =>
    [...c.out().matchAll(/^PROCESSED (\S+) (\S+) (\S+)$/gm)].map((m) => ({
      body: m[1]!,
      traceId: m[2]!,
      reqId: m[3]!,
    })),
  );
const consumerSpans = (consumers: Consumer[]) =>
  consumers.flatMap((c) =>
    [...c.out().matchAll(/^SPAN (.+)$/gm)]
      .map((m) => JSON.parse(m[1]!) as { kind: number; traceId: string; parent?: string })
      .filter((s) => s.kind === SpanKind.CONSUMER),
  );

async function stopAll(consumers: Consumer[]): Promise<number> {
  for (const c of consumers) c.child.kill('SIGTERM');
  let consumed = 0;
  for (const c of consumers) {
    expect(await c.stopped).toBe(0);
    consumed += Number(/STOPPED (\d+)/.exec(c.out())?.[1]);
  }
  return consumed;
}

interface Broker {
  /** The destination consumers read from (queue / stream), made for this test. */
  setup(): Promise<{
    name: string;
    publisher: (app: ReturnType<typeof Fastify>) => Promise<(body: string) => Promise<unknown>>;
    cleanup: () => Promise<void>;
  }>;
}

const brokers: Record<string, Broker> = {
  amqp: {
    async setup() {
      const { name, connection, channel, cleanup } = await freshQueue('e2e');
      return {
        name,
        cleanup,
        async publisher(app) {
          const amqp = instrumentAmqp({
            connection,
            registry: app.metrics.registry,
            health: app.health,
            closeConnection: false,
          });
          amqp.watchQueue(name);
          return (body) => amqp.sendToQueue(channel, name, Buffer.from(body));
        },
      };
    },
  },
  nats: {
    async setup() {
      const { name, subject, nc, jsm, js, cleanup } = await freshStream('e2e');
      return {
        name,
        cleanup,
        async publisher(app) {
          const nats = instrumentJetStream({
            connection: nc,
            registry: app.metrics.registry,
            health: app.health,
            closeConnection: false,
          });
          nats.watchConsumer(jsm, name, 'workers');
          return (body) => nats.publish(js, `${subject}.orders`, body);
        },
      };
    },
  },
};

describe.each(Object.keys(brokers))('an API and two consumer processes on %s', (system) => {
  it('processes every message once, in its request trace; lag rises while no one consumes', async () => {
    const broker = await brokers[system]!.setup();
    const sink = logSink();
    const options = {
      service: 'orders-api',
      logger: createLogger({ service: 'orders-api', destination: sink.stream }),
      tracing: { exporter, processor: 'simple' as const, outgoing: false },
      health: { shutdown: false as const },
    };
    const app = Fastify(obskitServerOptions(options));
    await app.register(obskit, options);
    const publish = await broker.publisher(app);
    app.post<{ Params: { id: string } }>('/orders/:id', async (request) => {
      await publish(request.params.id);
      return { queued: request.params.id };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const order = (id: string) =>
      fetch(`${url}/orders/${id}`, { method: 'POST', headers: { 'x-request-id': `req-${id}` } });
    const scrape = async () => await (await fetch(`${url}/metrics`)).text();
    const labels = { messaging_destination_name: foldDestination(broker.name) };
    try {
      let consumers = [
        await startConsumer(system, broker.name),
        await startConsumer(system, broker.name),
      ];
      const first = Array.from({ length: 20 }, (_, i) => `a${i}`);
      for (const id of first) expect((await order(id)).status).toBe(200);
      await waitFor(() => processed(consumers).length >= 20, 15_000, 'every message processed');
      let seen = processed(consumers);
      expect(seen.map((p) => p.body).sort()).toEqual([...first].sort());
      if (system === 'amqp')
        for (const c of consumers) expect(processed([c]).length).toBeGreaterThan(0);

      // One trace per request: server span ─► producer span ─► consumer span in another process.
      await waitFor(() => consumerSpans(consumers).length >= 20);
      const spans = exporter.getFinishedSpans();
      for (const p of seen) {
        const server = spans.find(
          (s) => s.kind === SpanKind.SERVER && s.spanContext().traceId === p.traceId,
        );
        expect(server?.name, `the request of ${p.body}`).toBe('POST /orders/:id');
        const producer = spans.find(
          (s) => s.kind === SpanKind.PRODUCER && s.spanContext().traceId === p.traceId,
        )!;
        expect(producer.parentSpanContext?.spanId).toBe(server?.spanContext().spanId);
        const consumer = consumerSpans(consumers).find((s) => s.traceId === p.traceId);
        expect(consumer?.parent).toBe(producer.spanContext().spanId);
        expect(p.reqId).toBe(`req-${p.body}`);
      }
      const consumedFirst = await stopAll(consumers);
      expect(consumedFirst).toBe(20);
      expect(sample(await scrape(), 'messaging_client_sent_messages_total')).toBe(20);

      // Nobody consumes: the lag rises.
      const second = Array.from({ length: 10 }, (_, i) => `b${i}`);
      // The oldest of them was stored between these two instants.
      const sending = Date.now();
      await order(second[0]!);
      const sent = Date.now();
      for (const id of second.slice(1)) await order(id);
      await waitFor(
        async () => sample(await scrape(), 'messaging_consumer_lag_messages', labels) === 10,
        5000,
      );
      if (system === 'nats') {
        // Once it is a second old: the lag in seconds is its real age at the scrape.
        await waitFor(
          async () => sample(await scrape(), 'messaging_consumer_lag_seconds', labels) >= 1,
          10_000,
        );
        const before = Date.now();
        const text = await scrape();
        const after = Date.now();
        const seconds = sample(text, 'messaging_consumer_lag_seconds', labels);
        expect(seconds).toBeGreaterThanOrEqual((before - sent) / 1000 - 0.002);
        expect(seconds).toBeLessThanOrEqual((after - sending) / 1000 + 0.002);
      }
      // Two others resume: the lag falls back to 0, each message processed once.
      consumers = [
        await startConsumer(system, broker.name),
        await startConsumer(system, broker.name),
      ];
      await waitFor(() => processed(consumers).length >= 10, 15_000, 'the backlog processed');
      await waitFor(
        async () => sample(await scrape(), 'messaging_consumer_lag_messages', labels) === 0,
        5000,
      );
      seen = processed(consumers);
      expect(seen.map((p) => p.body).sort()).toEqual([...second].sort());
      expect(await stopAll(consumers)).toBe(10);
      const text = await scrape();
      expect(sample(text, 'messaging_client_sent_messages_total')).toBe(30);
      if (system === 'nats') expect(sample(text, 'messaging_consumer_lag_seconds', labels)).toBe(0);
    } finally {
      await app.close();
      await broker.cleanup();
    }
  }, 90_000);
});
