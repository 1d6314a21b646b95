// A trace that is not sampled still travels: the producer's span is not recorded, but its
// context (flags 00) is in the headers, so the consumer follows the same decision in the same
// trace instead of starting, and perhaps sampling, a trace of its own. RabbitMQ on 127.0.0.1:5672.
import { startTracing } from '@obskit/tracing';
import { waitFor } from '@obskit/test-support';
import { context, trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { instrumentAmqp } from '../src/amqp.js';
import { freshQueue } from './support.js';

const exporter = new InMemorySpanExporter();
const tracing = startTracing({
  serviceName: 'sampling-test',
  exporter,
  processor: 'simple',
  outgoing: false,
  sampleRatio: 0,
});
afterAll(() => tracing.shutdown());

describe('an unsampled trace through RabbitMQ', () => {
  it('carries the context with flags 00; the consumer stays in that trace, unsampled', async () => {
    const { name, connection, channel, cleanup } = await freshQueue('sampling');
    const amqp = instrumentAmqp({ connection, registry: new Registry() });
    try {
      const seen: { traceparent?: unknown; traceId?: string; sampled?: boolean }[] = [];
      const consumer = await connection.createChannel();
      await amqp.consume(consumer, name, (_body: Buffer, message) => {
        const sc = trace.getActiveSpan()?.spanContext();
        seen.push({
          traceparent: message.properties.headers?.traceparent,
          traceId: sc?.traceId,
          sampled: sc === undefined ? undefined : (sc.traceFlags & 1) === 1,
        });
      });
      const root = trace.getTracer('test').startSpan('POST /orders');
      expect(root.isRecording()).toBe(false);
      await context.with(trace.setSpan(context.active(), root), () =>
        amqp.sendToQueue(channel, name, Buffer.from('x')),
      );
      root.end();
      await waitFor(() => seen.length === 1);
      const traceId = root.spanContext().traceId;
      expect(seen[0]!.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
      expect(seen[0]!.traceId).toBe(traceId);
      expect(seen[0]!.sampled).toBe(false);
      expect(exporter.getFinishedSpans()).toEqual([]);
      await amqp.close();
      await consumer.close();
    } finally {
      await cleanup();
    }
  });
});
