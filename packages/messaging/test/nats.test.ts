// NATS JetStream on 127.0.0.1:4222, through `nats`: a stream and a durable pull consumer per
// test, metrics parsed back, spans from the real OpenTelemetry SDK, lag from the server's own
// consumer info, hostile headers, a graceful stop.
import { randomUUID } from 'node:crypto';
import { createLogger, runWithRequestContext } from '@obskit/core';
import { startTracing, type TracingHandle } from '@obskit/tracing';
import { gate, logSink, waitFor } from '@obskit/test-support';
import { context, SpanKind, trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import {
  AckPolicy,
  connect,
  headers,
  type JetStreamClient,
  type JetStreamManager,
  type NatsConnection,
} from 'nats';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { foldDestination } from '../src/index.js';
import { instrumentJetStream } from '../src/nats.js';
import { cuttableProxy, sample } from './support.js';

const exporter = new InMemorySpanExporter();
let tracing: TracingHandle;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
const streams: string[] = [];
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  tracing = startTracing({
    serviceName: 'nats-test',
    exporter,
    processor: 'simple',
    outgoing: false,
  });
  nc = await connect({ servers: '127.0.0.1:4222' });
  js = nc.jetstream();
  jsm = await nc.jetstreamManager();
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  exporter.reset();
});
afterAll(async () => {
  for (const s of streams) await jsm.streams.delete(s).catch(() => undefined);
  await nc.close();
  await tracing.shutdown();
});

/** A stream `S<id>` on `orders<id>.>` and a durable consumer `workers` on it. */
async function freshStream(ackWaitMs = 30_000) {
  const id = randomUUID().slice(0, 8);
  const stream = `OBSKIT_${id}`;
  const subject = `orders${id}`;
  await jsm.streams.add({ name: stream, subjects: [`${subject}.>`] });
  streams.push(stream);
  await jsm.consumers.add(stream, {
    durable_name: 'workers',
    ack_policy: AckPolicy.Explicit,
    ack_wait: ackWaitMs * 1_000_000,
    max_deliver: 5,
  });
  return { stream, subject, consumer: await js.consumers.get(stream, 'workers') };
}

function instrument() {
  const sink = logSink();
  const logger = createLogger({ service: 'consumer', destination: sink.stream });
  const registry = new Registry();
  const nats = instrumentJetStream({ registry, logger, connection: nc });
  closers.push(() => nats.close());
  return { nats, registry, sink, logger };
}

describe('NATS JetStream producer and consumer', () => {
  it('carries one trace and the request id from publish to processing, counted both sides', async () => {
    const { nats, registry, sink, logger } = instrument();
    const { subject, consumer } = await freshStream();
    const seen: (string | undefined)[] = [];
    const tenants: (string | undefined)[] = [];
    await nats.consume(consumer, (data: Uint8Array, m, info) => {
      logger.info({ size: data.length }, 'handled');
      seen.push(info.reqId);
      tenants.push(m.headers?.get('x-tenant'));
    });
    const parent = trace.getTracer('test').startSpan('POST /orders', { kind: SpanKind.SERVER });
    await runWithRequestContext({ reqId: 'req-7' }, () =>
      context.with(trace.setSpan(context.active(), parent), async () => {
        // One headers object of the app's, reused for every message: never written to.
        const own = headers();
        own.set('x-tenant', 'acme');
        for (let i = 0; i < 3; i++)
          await nats.publish(js, `${subject}.${1000 + i}.created`, `m${i}`, { headers: own });
        expect([...own].map(([k]) => k)).toEqual(['x-tenant']);
      }),
    );
    parent.end();
    await waitFor(() => seen.length === 3);
    expect(seen).toEqual(['req-7', 'req-7', 'req-7']);
    expect(tenants).toEqual(['acme', 'acme', 'acme']);
    const traceId = parent.spanContext().traceId;
    await waitFor(() => sink.lines().filter((l) => l.msg === 'handled').length === 3);
    for (const line of sink.lines().filter((l) => l.msg === 'handled')) {
      expect(line).toMatchObject({ trace_id: traceId, reqId: 'req-7' });
    }
    await waitFor(
      () => exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CONSUMER).length === 3,
    );
    const spans = exporter.getFinishedSpans();
    const producers = spans.filter((s) => s.kind === SpanKind.PRODUCER);
    for (const c of spans.filter((s) => s.kind === SpanKind.CONSUMER)) {
      expect(producers.map((p) => p.spanContext().spanId)).toContain(c.parentSpanContext?.spanId);
      expect(c.spanContext().traceId).toBe(traceId);
      expect(c.attributes['messaging.system']).toBe('nats');
    }
    const text = await registry.metrics();
    // The ids in the subject are folded: one series, not one per order.
    const destination = `${subject}.*.created`;
    expect(
      sample(text, 'messaging_client_sent_messages_total', {
        messaging_destination_name: destination,
      }),
    ).toBe(3);
    expect(
      sample(text, 'messaging_client_consumed_messages_total', {
        messaging_destination_name: destination,
      }),
    ).toBe(3);
    expect(text).not.toContain('1001');
  });

  it('requeue is a nak (redelivered, counted), reject a term; a throw is retried once', async () => {
    const { nats, registry } = instrument();
    const { subject, consumer } = await freshStream();
    const attempts = new Map<string, number>();
    await nats.consume(consumer, (data: Uint8Array) => {
      const text = new TextDecoder().decode(data);
      attempts.set(text, (attempts.get(text) ?? 0) + 1);
      if (text === 'boom') throw new RangeError('bad order');
      if (text === 'refuse') return 'reject';
      if (text === 'again' && attempts.get(text) === 1) return 'requeue';
      return undefined;
    });
    for (const text of ['ok', 'boom', 'refuse', 'again'])
      await nats.publish(js, `${subject}.x`, text);
    await waitFor(() => attempts.get('again') === 2 && attempts.get('boom') === 2, 5000);
    const text = await registry.metrics();
    expect(
      sample(text, 'messaging_process_duration_seconds_count', {
        outcome: 'requeue',
        error_type: 'RangeError',
      }),
    ).toBe(1);
    expect(
      sample(text, 'messaging_process_duration_seconds_count', {
        outcome: 'reject',
        error_type: 'RangeError',
      }),
    ).toBe(1);
    expect(sample(text, 'messaging_redeliveries_total')).toBe(2);
    expect(attempts.get('refuse')).toBe(1);
  });

  it('hostile headers and bodies are processed or refused as chosen, never a crash', async () => {
    const { nats, registry } = instrument();
    const { subject, consumer } = await freshStream();
    const parsed: unknown[] = [];
    await nats.consume(consumer, (value: unknown) => void parsed.push(value), {
      parse: (body) => JSON.parse(new TextDecoder().decode(body)) as unknown,
    });
    await js.publish(`${subject}.a`, '{"n":1}');
    const bad = headers();
    bad.set('traceparent', '00-zzzz-not-valid');
    bad.set('x-request-id', 'bad id\u0000');
    await js.publish(`${subject}.a`, '{"n":2}', { headers: bad });
    const huge = headers();
    huge.set('traceparent', 'y'.repeat(50_000));
    await js.publish(`${subject}.a`, '{"n":3}', { headers: huge });
    await js.publish(`${subject}.a`, new Uint8Array([0xff, 0xfe, 0x00]));
    await waitFor(
      async () =>
        sample(await registry.metrics(), 'messaging_process_duration_seconds_count') === 4,
    );
    expect(parsed).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    const text = await registry.metrics();
    expect(
      sample(text, 'messaging_process_duration_seconds_count', {
        error_type: 'ParseError',
        outcome: 'reject',
      }),
    ).toBe(1);
  });

  it('lag: num_pending rises while nothing consumes, seconds follow the oldest message, both fall to 0', async () => {
    const { nats, registry } = instrument();
    const { stream, subject, consumer } = await freshStream();
    nats.watchConsumer(jsm, stream, 'workers');
    const labels = {
      messaging_destination_name: foldDestination(stream),
      messaging_consumer_group_name: 'workers',
    };
    // The oldest message was stored between these two instants.
    const sending = Date.now();
    await nats.publish(js, `${subject}.q`, '0');
    const sent = Date.now();
    for (let i = 1; i < 4; i++) await nats.publish(js, `${subject}.q`, String(i));
    // Until it is a second old, then one scrape, timed.
    await waitFor(
      async () => sample(await registry.metrics(), 'messaging_consumer_lag_seconds', labels) >= 1,
    );
    const before = Date.now();
    let text = await registry.metrics();
    const after = Date.now();
    expect(sample(text, 'messaging_consumer_lag_messages', labels)).toBe(4);
    // Its age at the scrape: no less than since it was sent, no more than since sending began
    // (the stored time has millisecond precision).
    const seconds = sample(text, 'messaging_consumer_lag_seconds', labels);
    expect(seconds).toBeGreaterThanOrEqual((before - sent) / 1000 - 0.002);
    expect(seconds).toBeLessThanOrEqual((after - sending) / 1000 + 0.002);
    const held = gate();
    let first = true;
    const running = await nats.consume(consumer, async () => {
      if (first) {
        first = false;
        await held.reached();
      }
    });
    await held.arrived;
    await waitFor(
      async () =>
        sample(await registry.metrics(), 'messaging_consumer_ack_pending_messages', labels) >= 1,
    );
    held.release();
    await waitFor(async () => {
      text = await registry.metrics();
      return (
        sample(text, 'messaging_consumer_lag_messages', labels) === 0 &&
        sample(text, 'messaging_consumer_ack_pending_messages', labels) === 0
      );
    });
    expect(sample(text, 'messaging_consumer_lag_seconds', labels)).toBe(0);
    await running.stop();
  });

  it('stop(): the message in hand is finished and acked; no other is pulled', async () => {
    const { nats } = instrument();
    const { stream, subject, consumer } = await freshStream();
    for (let i = 0; i < 6; i++) await js.publish(`${subject}.s`, String(i));
    const held = gate();
    const handled: string[] = [];
    const running = await nats.consume(consumer, async (data: Uint8Array) => {
      handled.push(new TextDecoder().decode(data));
      await held.reached();
    });
    await held.arrived;
    const stopped = running.stop();
    held.release();
    await stopped;
    expect(handled).toEqual(['0']);
    // One acked, the five others waiting again (none left pending an ack for 30 s).
    await waitFor(async () => {
      const info = await jsm.consumers.info(stream, 'workers');
      return info.num_ack_pending === 0 && info.num_pending + info.num_redelivered >= 5;
    });
    expect(
      (await jsm.consumers.info(stream, 'workers')).ack_floor.stream_seq,
    ).toBeGreaterThanOrEqual(1);
  });

  it('readiness follows the connection: lost, not ready; reconnected, ready; closed, not ready', async () => {
    const proxy = await cuttableProxy(4222);
    const own = await connect({
      servers: `127.0.0.1:${proxy.port}`,
      reconnectTimeWait: 100,
      maxReconnectAttempts: -1,
    });
    const nats = instrumentJetStream({ connection: own, registry: new Registry() });
    // As obskit's health runs a check: under a timeout.
    const state = () =>
      Promise.race([
        nats.check().then(
          () => 'ready',
          () => 'down',
        ),
        new Promise((r) => setTimeout(() => r('timed out'), 1000)),
      ]);
    try {
      await expect(nats.check()).resolves.toBeUndefined();
      proxy.cut();
      await waitFor(async () => (await state()) === 'down');
      await expect(nats.check()).rejects.toThrow('the NATS connection is lost');
      proxy.restore();
      await waitFor(async () => (await state()) === 'ready', 10_000);
    } finally {
      await nats.close();
      await own.close();
      proxy.close();
    }
  }, 20_000);

  it('a handler that outlasts ack_wait keeps its message: processed once, not redelivered', async () => {
    const { nats, registry } = instrument();
    const { subject, consumer } = await freshStream(1000);
    const runs: string[] = [];
    const running = await nats.consume(
      consumer,
      async (data: Uint8Array) => {
        runs.push(new TextDecoder().decode(data));
        await new Promise((r) => setTimeout(r, 2600));
      },
      { concurrency: 2 },
    );
    await js.publish(`${subject}.slow`, 'slow');
    await waitFor(() => runs.length === 1);
    await waitFor(
      async () =>
        sample(await registry.metrics(), 'messaging_process_duration_seconds_count') === 1,
      6000,
    );
    expect(runs).toEqual(['slow']);
    expect(sample(await registry.metrics(), 'messaging_redeliveries_total')).toBe(0);
    await running.stop();
  }, 15_000);

  it('a consumer whose pulls fail (its durable deleted) is not ready, said once', async () => {
    const { nats, sink } = instrument();
    const { stream, consumer } = await freshStream();
    // The same consumer, its pulls counted.
    let pulls = 0;
    const counted = Object.create(consumer) as typeof consumer;
    counted.fetch = (options) => {
      pulls++;
      return consumer.fetch(options);
    };
    const running = await nats.consume(counted, () => undefined);
    await expect(nats.check()).resolves.toBeUndefined();
    await jsm.consumers.delete(stream, 'workers');
    await waitFor(
      async () =>
        (await nats.check().then(
          () => 'ready',
          (e: Error) => e.message,
        )) !== 'ready',
      10_000,
    );
    await expect(nats.check()).rejects.toThrow(`pulling from ${stream}/workers fails`);
    // And stays so across the retries (each pull the server refuses), said once.
    for (let i = 0; i < 4; i++) {
      const seen = pulls;
      await waitFor(() => pulls > seen + 1, 10_000, 'a retried pull ended');
      await expect(nats.check()).rejects.toThrow(`pulling from ${stream}/workers fails`);
    }
    expect(sink.lines().filter((l) => /pulling from/.test(String(l.msg)))).toHaveLength(1);
    await running.stop();
    // Stopped: no longer held against readiness.
    await expect(nats.check()).resolves.toBeUndefined();
  }, 20_000);

  it('readiness: a closed connection is not ready', async () => {
    const own = await connect({ servers: '127.0.0.1:4222' });
    const nats = instrumentJetStream({ connection: own, registry: new Registry() });
    await expect(nats.check()).resolves.toBeUndefined();
    await own.close();
    await expect(nats.check()).rejects.toThrow('the NATS connection is closed');
    await nats.close();
  });

  it('says what is wrong with bad options', async () => {
    expect(() => instrumentJetStream({ closeConnection: 'yes' as never })).toThrow(
      'nats.closeConnection',
    );
    expect(() => instrumentJetStream({ connection: {} as never })).toThrow(
      'nats.connection must be a NATS connection',
    );
    const nats = instrumentJetStream();
    await expect(nats.consume({} as never, () => undefined)).rejects.toThrow(
      'nats.consume.consumer',
    );
    expect(() => nats.publish(js, '', 'x')).toThrow('nats.publish.subject');
    expect(() => nats.watchConsumer({} as never, 'S', 'c')).toThrow('nats.watchConsumer.jsm');
  });
});
