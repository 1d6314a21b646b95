import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createLogger } from '@obskit/core';
import { logSink, sleep } from '@obskit/test-support';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runWithTraceContext, startTracing, withSpan, type TracingHandle } from '../src/index.js';
import { frameworks, type Running } from './support.js';

const exporter = new InMemorySpanExporter();
let handle: TracingHandle;
beforeAll(() => {
  handle = startTracing({ exporter, processor: 'simple', serviceName: 'traced' });
});
afterAll(async () => {
  await handle.shutdown();
});

const closers: (() => Promise<unknown>)[] = [];
beforeEach(() => exporter.reset());
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

const PARENT_TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT_SPAN = 'b7ad6b7169203331';

async function serverSpans(count = 1): Promise<ReadableSpan[]> {
  for (let i = 0; i < 100; i++) {
    const spans = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER);
    if (spans.length >= count) return spans;
    await sleep(10);
  }
  throw new Error(
    `expected ${count} server spans, got ${exporter.getFinishedSpans().length} spans`,
  );
}

describe.each(frameworks)('$name', (framework) => {
  async function start(): Promise<Running> {
    const running = await framework.start();
    closers.push(running.close);
    return running;
  }

  it('names the server span by route and sets the stable attributes only', async () => {
    const { url } = await start();
    await (
      await fetch(`${url}/users/42?token=secret`, { headers: { 'x-secret': 'hidden' } })
    ).text();
    const [span] = await serverSpans();
    expect(span?.name).toBe('GET /users/:id');
    expect(span?.attributes).toEqual({
      'http.request.method': 'GET',
      'url.path': '/users/42',
      'url.scheme': 'http',
      'http.route': '/users/:id',
      'http.response.status_code': 200,
    });
    expect(JSON.stringify(span?.attributes)).not.toContain('secret');
  });

  it('includes router prefixes, leaves http.route out when unmatched, and handles PURGE', async () => {
    const { url } = await start();
    await (await fetch(`${url}/v1/items/7`)).text();
    await (await fetch(`${url}/nowhere`)).text();
    await (await fetch(`${url}/users/1`, { method: 'PURGE' })).text();
    const spans = await serverSpans(3);
    const byPath = (p: string) =>
      spans.find(
        (s) => s.attributes['url.path'] === p && s.attributes['http.request.method'] !== '_OTHER',
      );
    expect(byPath('/v1/items/7')?.name).toBe('GET /v1/items/:id');
    expect(byPath('/v1/items/7')?.attributes['http.route']).toBe('/v1/items/:id');
    expect(byPath('/nowhere')?.name).toBe('GET');
    expect(byPath('/nowhere')?.attributes).not.toHaveProperty('http.route');
    expect(byPath('/nowhere')?.attributes['http.response.status_code']).toBe(404);
    const purge = spans.find((s) => s.attributes['http.request.method'] === '_OTHER');
    expect(purge?.name).toBe('HTTP');
    expect(purge?.attributes['http.request.method_original']).toBe('PURGE');
  });

  it('records a thrown error', async () => {
    const { url } = await start();
    expect((await fetch(`${url}/boom`)).status).toBe(500);
    const [span] = await serverSpans();
    expect(span?.name).toBe('GET /boom');
    expect(span?.attributes['http.response.status_code']).toBe(500);
    expect(span?.attributes['error.type']).toBe('TypeError');
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span?.events.some((e) => e.name === 'exception')).toBe(true);
  });

  it('continues an incoming traceparent and correlates the log line', async () => {
    const { url, sink } = await start();
    const body = (await (
      await fetch(`${url}/users/1`, {
        headers: { traceparent: `00-${PARENT_TRACE}-${PARENT_SPAN}-01` },
      })
    ).json()) as { traceId: string; spanId: string };
    const [span] = await serverSpans();
    expect(span?.spanContext().traceId).toBe(PARENT_TRACE);
    expect(span?.parentSpanContext?.spanId).toBe(PARENT_SPAN);
    // The handler's active span is the server span itself, not the incoming parent.
    expect(body.traceId).toBe(PARENT_TRACE);
    expect(body.spanId).toBe(span?.spanContext().spanId);
    const line = sink.lines().find((l) => l.msg === 'loading user');
    expect(line?.trace_id).toBe(PARENT_TRACE);
    expect(line?.span_id).toBe(span?.spanContext().spanId);
    expect(line?.trace_flags).toBe('01');
  });

  it('writes trace_flags 00 in log lines under an unsampled parent', async () => {
    const { url, sink } = await start();
    const response = await fetch(`${url}/users/1`, {
      headers: { traceparent: `00-${PARENT_TRACE}-${PARENT_SPAN}-00` },
    });
    expect(response.status).toBe(200);
    const line = sink.lines().find((l) => l.msg === 'loading user');
    expect(line?.trace_id).toBe(PARENT_TRACE);
    expect(line?.span_id).toMatch(/^[0-9a-f]{16}$/);
    expect(line?.span_id).not.toBe(PARENT_SPAN);
    expect(line?.trace_flags).toBe('00');
    // Not sampled: not exported. A request after it, in a new sampled trace, is.
    await (await fetch(`${url}/users/2`)).text();
    const spans = await serverSpans();
    expect(spans.map((s) => s.spanContext().traceId === PARENT_TRACE)).toEqual([false]);
  });

  it('ends the span of a request whose client went away with error.type "aborted"', async () => {
    const { url } = await start();
    const controller = new AbortController();
    const aborted = fetch(`${url}/slow`, { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await expect(aborted).rejects.toThrow();
    const [span] = await serverSpans();
    expect(span?.name).toBe('GET /slow');
    expect(span?.attributes['error.type']).toBe('aborted');
    expect(span?.attributes).not.toHaveProperty('http.response.status_code');
  });

  it.each([
    ['version ff', `ff-${PARENT_TRACE}-${PARENT_SPAN}-01`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${PARENT_SPAN}-01`],
    ['all-zero span id', `00-${PARENT_TRACE}-${'0'.repeat(16)}-01`],
    ['short trace id', `00-${PARENT_TRACE.slice(1)}-${PARENT_SPAN}-01`],
    ['upper case', `00-${PARENT_TRACE.toUpperCase()}-${PARENT_SPAN}-01`],
    ['extra fields in version 00', `00-${PARENT_TRACE}-${PARENT_SPAN}-01-extra`],
    ['garbage', '<script>'],
  ])(
    'starts a new trace for a malformed traceparent (%s) and never echoes it',
    async (_what, bad) => {
      const { url } = await start();
      const response = await fetch(`${url}/users/1`, { headers: { traceparent: bad } });
      expect(response.status).toBe(200);
      expect(response.headers.get('traceparent')).toBeNull();
      expect(await response.text()).not.toContain(bad);
      const [span] = await serverSpans();
      expect(span?.spanContext().traceId).not.toBe(PARENT_TRACE);
      expect(span?.spanContext().traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(span?.parentSpanContext).toBeUndefined();
    },
  );

  it('cuts oversized tracestate and baggage to the W3C limits without partial members', async () => {
    const { url } = await start();
    const tracestate = Array.from({ length: 40 }, (_, i) => `vendor${i}=value${i}`).join(',');
    const baggage = Array.from({ length: 300 }, (_, i) => `key${i}=${'v'.repeat(40)}`).join(',');
    const response = await fetch(`${url}/users/1`, {
      headers: { traceparent: `00-${PARENT_TRACE}-${PARENT_SPAN}-01`, tracestate, baggage },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { traceState: string; baggageEntries: number };
    const members = body.traceState.split(',');
    expect(members.length).toBeLessThanOrEqual(32);
    expect(body.traceState.length).toBeLessThanOrEqual(512);
    for (const member of members) expect(member).toMatch(/^vendor\d+=value\d+$/);
    expect(body.baggageEntries).toBeGreaterThan(0);
    expect(body.baggageEntries).toBeLessThanOrEqual(180);
  });

  it('continues the trace from a job carrier in another async context', async () => {
    const { url, carriers } = await start();
    await (await fetch(`${url}/users/1`)).text();
    const [server] = await serverSpans();
    const carrier = carriers[0];
    expect(carrier?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const sink = logSink();
    const logger = createLogger({ service: 'worker', destination: sink.stream });
    // A fresh async context, as a worker picking the job from a queue.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await runWithTraceContext(carrier, 'process job', async () => {
      logger.info('working');
      await withSpan('step: send', {}, async () => logger.info('sending'));
    });
    const job = exporter.getFinishedSpans().find((s) => s.name === 'process job');
    const step = exporter.getFinishedSpans().find((s) => s.name === 'step: send');
    expect(job?.kind).toBe(SpanKind.CONSUMER);
    expect(job?.spanContext().traceId).toBe(server?.spanContext().traceId);
    expect(job?.parentSpanContext?.spanId).toBe(server?.spanContext().spanId);
    expect(step?.parentSpanContext?.spanId).toBe(job?.spanContext().spanId);
    const lines = sink.lines();
    expect(lines.map((l) => l.trace_id)).toEqual([
      server?.spanContext().traceId,
      server?.spanContext().traceId,
    ]);
    expect(lines[1]?.span_id).toBe(step?.spanContext().spanId);
  });
});

describe('job spans', () => {
  it('links instead of continuing with link: true, and records errors', async () => {
    const carrier = { traceparent: `00-${PARENT_TRACE}-${PARENT_SPAN}-01` };
    await runWithTraceContext(carrier, 'batch', () => undefined, { link: true });
    await expect(
      runWithTraceContext(carrier, 'fails', () => {
        throw new RangeError('nope');
      }),
    ).rejects.toThrow('nope');
    const batch = exporter.getFinishedSpans().find((s) => s.name === 'batch');
    expect(batch?.spanContext().traceId).not.toBe(PARENT_TRACE);
    expect(batch?.links[0]?.context.spanId).toBe(PARENT_SPAN);
    const failed = exporter.getFinishedSpans().find((s) => s.name === 'fails');
    expect(failed?.spanContext().traceId).toBe(PARENT_TRACE);
    expect(failed?.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed?.attributes['error.type']).toBe('RangeError');
    await runWithTraceContext({ traceparent: 'junk' }, 'fresh', () => undefined);
    expect(
      exporter.getFinishedSpans().find((s) => s.name === 'fresh')?.parentSpanContext,
    ).toBeUndefined();
  });
});
