// RabbitMQ on 127.0.0.1:5672 (guest/guest), through amqplib: metrics parsed back from the
// registry, spans from the real OpenTelemetry SDK, hostile messages, lag, readiness through a
// TCP proxy that can be cut, and a graceful stop with a message in hand.
import { randomUUID } from 'node:crypto';
import { createLogger, runWithRequestContext } from '@obskit/core';
import { startTracing, type TracingHandle } from '@obskit/tracing';
import { gate, logSink, waitFor } from '@obskit/test-support';
import { context, SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import amqplib, { type Channel, type ChannelModel } from 'amqplib';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { foldDestination } from '../src/index.js';
import { instrumentAmqp } from '../src/amqp.js';
import { cuttableProxy, sample } from './support.js';

const URL = 'amqp://guest:guest@127.0.0.1:5672';
const exporter = new InMemorySpanExporter();
let tracing: TracingHandle;
let connection: ChannelModel;
let channel: Channel;
const queues: string[] = [];
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  tracing = startTracing({
    serviceName: 'messaging-test',
    exporter,
    processor: 'simple',
    outgoing: false,
  });
  connection = await amqplib.connect(URL);
  channel = await connection.createChannel();
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  exporter.reset();
});
afterAll(async () => {
  for (const q of queues) await channel.deleteQueue(q).catch(() => undefined);
  await connection.close();
  await tracing.shutdown();
});

async function freshQueue(options: amqplib.Options.AssertQueue = {}): Promise<string> {
  const name = `obskit-test-${randomUUID()}`;
  await channel.assertQueue(name, { durable: false, ...options });
  queues.push(name);
  return name;
}

async function value(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const data = await registry.getSingleMetric(name)?.get();
  return (
    data?.values
      .filter((v) => Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x))
      .reduce((sum, v) => sum + v.value, 0) ?? 0
  );
}

function instrument(extra: Parameters<typeof instrumentAmqp>[0] = {}) {
  const sink = logSink();
  const logger = createLogger({ service: 'consumer', destination: sink.stream });
  const registry = new Registry();
  const amqp = instrumentAmqp({ registry, logger, connection, ...extra });
  closers.push(() => amqp.close());
  return { amqp, registry, sink, logger };
}

describe('RabbitMQ producer and consumer', () => {
  it('carries one trace and the request id from publish to processing, counted both sides', async () => {
    const { amqp, registry, logger, sink } = instrument();
    const queue = await freshQueue();
    const seen: { traceId?: string; reqId?: string }[] = [];
    await amqp.consume(channel, queue, (body: Buffer, _m, info) => {
      logger.info({ body: body.toString() }, 'handled');
      seen.push({ traceId: trace.getActiveSpan()?.spanContext().traceId, reqId: info.reqId });
    });
    const parent = trace.getTracer('test').startSpan('GET /orders', { kind: SpanKind.SERVER });
    runWithRequestContext({ reqId: 'req-42' }, () =>
      context.with(trace.setSpan(context.active(), parent), () => {
        for (let i = 0; i < 3; i++) amqp.sendToQueue(channel, queue, Buffer.from(`m${i}`));
      }),
    );
    parent.end();
    await waitFor(() => seen.length === 3);
    const traceId = parent.spanContext().traceId;
    expect(seen).toEqual(Array(3).fill({ traceId, reqId: 'req-42' }));
    // The handler's log lines carry the trace id and the original request id.
    await waitFor(() => sink.lines().filter((l) => l.msg === 'handled').length === 3);
    for (const line of sink.lines().filter((l) => l.msg === 'handled')) {
      expect(line).toMatchObject({ trace_id: traceId, reqId: 'req-42' });
    }
    await waitFor(
      () => exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CONSUMER).length === 3,
    );
    const spans = exporter.getFinishedSpans();
    const producers = spans.filter((s) => s.kind === SpanKind.PRODUCER);
    const consumers = spans.filter((s) => s.kind === SpanKind.CONSUMER);
    expect(producers).toHaveLength(3);
    for (const p of producers) {
      expect(p.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
      expect(p.attributes).toMatchObject({
        'messaging.system': 'rabbitmq',
        'messaging.operation.type': 'send',
      });
    }
    for (const c of consumers) {
      expect(producers.map((p) => p.spanContext().spanId)).toContain(c.parentSpanContext?.spanId);
      expect(c.spanContext().traceId).toBe(traceId);
      expect(c.attributes).toMatchObject({
        'messaging.outcome': 'ack',
        'messaging.destination.name': queue,
      });
    }
    const label = foldDestination(queue);
    expect(
      await value(registry, 'messaging_client_sent_messages_total', {
        messaging_destination_name: label,
      }),
    ).toBe(3);
    expect(
      await value(registry, 'messaging_client_consumed_messages_total', {
        messaging_destination_name: label,
      }),
    ).toBe(3);
    const text = await registry.metrics();
    expect(sample(text, 'messaging_process_duration_seconds_count', { outcome: 'ack' })).toBe(3);
    expect(await value(registry, 'messaging_messages_in_progress')).toBe(0);
  });

  it('times a confirm channel to the broker confirm; nothing is left outstanding', async () => {
    const { amqp, registry } = instrument();
    const queue = await freshQueue();
    const confirm = await connection.createConfirmChannel();
    closers.push(() => confirm.close());
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        amqp.sendToQueue(confirm, queue, Buffer.from(String(i))),
      ),
    );
    expect((await channel.checkQueue(queue)).messageCount).toBe(20);
    const label = foldDestination(queue);
    expect(
      await value(registry, 'messaging_publish_confirms_outstanding', {
        messaging_destination_name: label,
      }),
    ).toBe(0);
    const text = await registry.metrics();
    expect(
      sample(text, 'messaging_client_operation_duration_seconds_count', {
        messaging_operation_name: 'send',
      }),
    ).toBe(20);
  });

  it('a confirm-channel publish the broker refuses rejects, counted under its error; nothing left outstanding', async () => {
    const { amqp, registry } = instrument();
    const confirm = await connection.createConfirmChannel();
    confirm.on('error', () => undefined); // the 404 closes the channel
    await expect(
      amqp.publish(confirm, `obskit-missing-${randomUUID()}`, 'key', Buffer.from('x')),
    ).rejects.toThrow();
    const text = await registry.metrics();
    expect(sample(text, 'messaging_client_sent_messages_total', { error_type: 'Error' })).toBe(1);
    expect(sample(text, 'messaging_client_sent_messages_total')).toBe(1);
    expect(sample(text, 'messaging_publish_confirms_outstanding')).toBe(0);
  });

  it('settles as the handler says; a throw is retried once, then rejected to the dead-letter queue', async () => {
    const { amqp, registry, sink } = instrument();
    const dead = await freshQueue();
    const queue = await freshQueue({ deadLetterExchange: '', deadLetterRoutingKey: dead });
    const attempts = new Map<string, number>();
    await amqp.consume(channel, queue, (body: Buffer) => {
      const text = body.toString();
      attempts.set(text, (attempts.get(text) ?? 0) + 1);
      if (text === 'boom') throw new TypeError('cannot handle');
      if (text === 'refuse') return 'reject';
      if (text === 'again' && attempts.get(text) === 1) return 'requeue';
      return undefined;
    });
    for (const text of ['ok', 'boom', 'refuse', 'again'])
      amqp.sendToQueue(channel, queue, Buffer.from(text));
    await waitFor(
      async () => (await channel.checkQueue(dead)).messageCount === 2,
      5000,
      'two dead letters',
    );
    await waitFor(() => attempts.get('again') === 2);
    expect(attempts.get('boom')).toBe(2);
    const text = await registry.metrics();
    const count = (outcome: string, error_type: string) =>
      sample(text, 'messaging_process_duration_seconds_count', { outcome, error_type });
    expect(count('requeue', 'TypeError')).toBe(1);
    expect(count('reject', 'TypeError')).toBe(1);
    expect(await value(registry, 'messaging_redeliveries_total')).toBe(2);
    // One error line per failed delivery, with the error, the outcome and the trace ids.
    const failed = sink.lines().filter((l) => l.msg === 'message failed');
    expect(failed.map((l) => [l.level, l.outcome, (l.err as { message: string }).message])).toEqual(
      [
        ['error', 'requeue', 'cannot handle'],
        ['error', 'reject', 'cannot handle'],
      ],
    );
    for (const line of failed) expect(line.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(await value(registry, 'messaging_client_consumed_messages_total')).toBe(6);
  });

  it('hostile messages: no headers, bad traceparent, huge and binary headers, bad JSON; none crashes it', async () => {
    const { amqp, registry, sink } = instrument();
    const queue = await freshQueue();
    const parsed: unknown[] = [];
    await amqp.consume(
      channel,
      queue,
      (value: unknown, _m, info) => {
        parsed.push([value, info.reqId]);
      },
      { parse: (body) => JSON.parse(Buffer.from(body).toString()) as unknown },
    );
    const send = (body: string, headers?: Record<string, unknown>) =>
      channel.sendToQueue(queue, Buffer.from(body), headers === undefined ? {} : { headers });
    send('{"a":1}');
    send('{"a":2}', { traceparent: 'not-a-traceparent', 'x-request-id': 'bad id <script>' });
    send('{"a":3}', { traceparent: 'x'.repeat(60_000), tracestate: Buffer.alloc(2000, 1) });
    send('{"a":4}', {
      traceparent: Buffer.from('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'),
      'x-request-id': 42,
    });
    send('not json');
    await waitFor(
      async () =>
        (await value(registry, 'messaging_process_duration_seconds')) >= 0 && parsed.length === 4,
    );
    await waitFor(async () => (await channel.checkQueue(queue)).messageCount === 0);
    expect(parsed).toEqual([
      [{ a: 1 }, undefined],
      [{ a: 2 }, undefined],
      [{ a: 3 }, undefined],
      [{ a: 4 }, undefined],
    ]);
    // The binary traceparent is read (a short buffer); the hostile ones start a trace of their own.
    await waitFor(
      () => exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CONSUMER).length === 5,
    );
    const consumers = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CONSUMER);
    expect(
      consumers.filter((s) => s.spanContext().traceId === '4bf92f3577b34da6a3ce929d0e0e4736'),
    ).toHaveLength(1);
    const text = await registry.metrics();
    expect(
      sample(text, 'messaging_process_duration_seconds_count', {
        error_type: 'ParseError',
        outcome: 'reject',
      }),
    ).toBe(1);
    expect(sink.lines().filter((l) => l.level === 'fatal')).toHaveLength(0);
  });

  it('lag: messages waiting rise with no consumer and fall to 0; the age of the newest delivered', async () => {
    const { amqp, registry } = instrument();
    const queue = await freshQueue();
    amqp.watchQueue(queue);
    const label = foldDestination(queue);
    const lag = () =>
      value(registry, 'messaging_consumer_lag_messages', { messaging_destination_name: label });
    expect(await lag()).toBe(0);
    // The first one published 2 s ago (the timestamp property is in whole seconds).
    channel.sendToQueue(queue, Buffer.from('old'), {
      timestamp: Math.floor(Date.now() / 1000) - 2,
    });
    for (let i = 0; i < 5; i++) amqp.sendToQueue(channel, queue, Buffer.from(String(i)));
    await waitFor(async () => (await lag()) === 6);
    expect(
      await value(registry, 'messaging_destination_consumers', {
        messaging_destination_name: label,
      }),
    ).toBe(0);
    // No delivery here yet: the age is not known, its series is left out.
    expect(await registry.metrics()).not.toMatch(/^messaging_consumer_lag_seconds\{/m);
    const held = gate();
    const own = await connection.createChannel();
    await own.prefetch(1);
    closers.push(() => own.close().catch(() => undefined));
    const consumer = await amqp.consume(own, queue, async (body: Buffer) => {
      if (body.toString() === 'old') await held.reached();
    });
    await waitFor(() => consumer.inFlight === 1);
    const seconds = await value(registry, 'messaging_consumer_lag_seconds', {
      messaging_destination_name: label,
    });
    expect(seconds).toBeGreaterThanOrEqual(1.5);
    expect(seconds).toBeLessThan(5);
    held.release();
    await waitFor(async () => (await lag()) === 0 && consumer.inFlight === 0);
    expect(
      await value(registry, 'messaging_consumer_lag_seconds', {
        messaging_destination_name: label,
      }),
    ).toBe(0);
    expect(
      await value(registry, 'messaging_destination_consumers', {
        messaging_destination_name: label,
      }),
    ).toBe(1);
  });

  it('a lag reading on a missing queue leaves its series out, counted; the other queues and the app channel are untouched', async () => {
    const { amqp, registry, sink } = instrument();
    const present = await freshQueue();
    channel.sendToQueue(present, Buffer.from('waiting'));
    await channel.checkQueue(present);
    amqp.watchQueue(`obskit-missing-${randomUUID()}`);
    amqp.watchQueue(present);
    for (let scrape = 1; scrape <= 2; scrape++) {
      const text = await registry.metrics();
      // Only the present queue's series, on every scrape.
      expect(sample(text, 'messaging_consumer_lag_messages')).toBe(1);
      expect(
        sample(text, 'messaging_consumer_lag_messages', {
          messaging_destination_name: foldDestination(present),
        }),
      ).toBe(1);
      expect(
        sample(text, 'obskit_scrape_errors_total', { source: 'rabbitmq_lag', reason: 'error' }),
      ).toBe(scrape);
    }
    expect(sink.lines().filter((l) => /amqp.watchQueue/.test(String(l.msg)))).toHaveLength(1);
    // The app's channel still works.
    await channel.checkQueue(await freshQueue());
  });

  it('stop(): no new delivery, the message in hand is finished and acked, the rest stay queued', async () => {
    const { amqp } = instrument();
    const queue = await freshQueue();
    for (let i = 0; i < 5; i++) channel.sendToQueue(queue, Buffer.from(String(i)));
    const held = gate();
    const handled: string[] = [];
    const own = await connection.createChannel();
    await own.prefetch(1);
    closers.push(() => own.close().catch(() => undefined));
    const consumer = await amqp.consume(own, queue, async (body: Buffer) => {
      handled.push(body.toString());
      await held.reached();
    });
    await waitFor(() => handled.length === 1);
    const stopped = consumer.stop();
    let done = false;
    void stopped.then(() => (done = true));
    // The cancel has reached the broker (no consumer on the queue): the stop still waits.
    await waitFor(async () => (await channel.checkQueue(queue)).consumerCount === 0);
    expect(done).toBe(false);
    held.release();
    await stopped;
    expect(handled).toEqual(['0']);
    // Acked: four left, none unacked once the channel closes.
    await own.close();
    expect((await channel.checkQueue(queue)).messageCount).toBe(4);
  });

  it('says what is wrong with bad options', async () => {
    expect(() => instrumentAmqp({ registry: {} as never })).toThrow(
      'OBSKIT_ERR_INVALID_OPTION: amqp.registry',
    );
    expect(() => instrumentAmqp({ onError: 'drop' as never })).toThrow('amqp.onError');
    expect(() => instrumentAmqp({ connection: {} as never })).toThrow(
      'amqp.connection must be an amqplib connection',
    );
    expect(() => instrumentAmqp({ health: {} as never })).toThrow('amqp.health');
    const amqp = instrumentAmqp();
    await expect(amqp.consume(channel, '', () => undefined)).rejects.toThrow('amqp.consume.queue');
    await expect(amqp.consume({} as never, 'q', () => undefined)).rejects.toThrow(
      'amqp.consume.channel',
    );
    await expect(
      amqp.consume(channel, 'q', () => undefined, { onError: 'x' as never }),
    ).rejects.toThrow('amqp.consume.onError');
  });
});

describe('readiness', () => {
  let proxy: Awaited<ReturnType<typeof cuttableProxy>>;
  beforeAll(async () => {
    proxy = await cuttableProxy(5672);
  });
  afterAll(() => proxy.close());

  it('connection lost: not ready at once; reconnected (amqplib recovery re-consuming): ready again', async () => {
    const queue = await freshQueue();
    const handled: string[] = [];
    const handler = (body: Buffer) => void handled.push(body.toString());
    // Made after the first connect; the setups after a reconnect use it.
    const made: { amqp?: ReturnType<typeof instrumentAmqp> } = {};
    const recovering = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${proxy.port}`, {
      recovery: {
        initialDelay: 100,
        maxDelay: 300,
        // After every reconnect, as amqplib's README has it: the consumers again.
        async setup(model: ChannelModel) {
          await made.amqp?.consume(await model.createChannel(), queue, handler);
        },
      },
    });
    const amqp = instrumentAmqp({ connection: recovering as never, registry: new Registry() });
    made.amqp = amqp;
    await amqp.consume(await recovering.createChannel(), queue, handler);
    closers.push(async () => {
      await amqp.close();
      await recovering.close().catch(() => undefined);
    });
    await expect(amqp.check()).resolves.toBeUndefined();
    proxy.cut();
    await waitFor(
      async () =>
        (await amqp.check().then(
          () => 'ready',
          (e: Error) => e.message,
        )) !== 'ready',
    );
    await expect(amqp.check()).rejects.toThrow(/RabbitMQ connection is lost/);
    proxy.restore();
    // Ready again once reconnected and consuming: the lost consumer is not held against it.
    await waitFor(
      async () =>
        (await amqp.check().then(
          () => 'ready',
          () => 'down',
        )) === 'ready',
      10_000,
    );
    // And the re-made consumer consumes.
    channel.sendToQueue(queue, Buffer.from('after'));
    await waitFor(() => handled.includes('after'), 5000);
  }, 20_000);
});

describe('destination labels', () => {
  it('folds ids and generated names, keeps names that merely hold digits', () => {
    const cases: [string, string][] = [
      ['orders.4711.created', 'orders.*.created'],
      ['orders62772073.1000.created', 'orders62772073.*.created'],
      ['reply-3f2b8c1e-9d4a-4c1b-8e2f-0a1b2c3d4e5f', 'reply-*'],
      ['amq.gen-JzTY20BRgKO-HjmUJj0wLg', 'amq.gen-*'],
      ['amq.rabbitmq.reply-to.g1h2AA', 'amq.rabbitmq.reply-to.*'],
      ['_INBOX.abcdef.12', '_INBOX.*'],
      ['invoices/2026/12', 'invoices/*/12'],
      ['users:deadbeefdeadbeef01:events', 'users:*:events'],
      ['v2.orders', 'v2.orders'],
      ['', '(default)'],
    ];
    for (const [name, label] of cases) expect(foldDestination(name), name).toBe(label);
  });
});
