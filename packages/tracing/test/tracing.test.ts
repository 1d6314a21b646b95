import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createLogger } from '@obskit/core';
import { createServer } from 'node:http';
import { httpRequestsAnnounced, listen, logSink, quietLogger, waitFor } from '@obskit/test-support';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runWithTraceContext, startTracing, withSpan, type TracingHandle } from '../src/index.js';
import { frameworks, slowRoute, type Running } from './support.js';

const exporter = new InMemorySpanExporter();
let handle: TracingHandle;
beforeAll(() => {
  handle = startTracing({
    exporter,
    processor: 'simple',
    serviceName: 'traced',
    logger: quietLogger(),
  });
});
afterAll(async () => {
  await handle.shutdown();
});

const closers: (() => Promise<unknown>)[] = [];
beforeEach(() => exporter.reset());
afterEach(async () => {
  slowRoute.reset();
  await Promise.all(closers.splice(0).map((close) => close()));
});

// Where Node.js announces node:http requests on a channel (22.14+), they are traced whatever
// was loaded first; on Node.js 20 only when tracing starts before node:http is loaded.
const httpTraced = httpRequestsAnnounced();

/** A downstream server that answers with the request headers it received. */
async function echoHeaders(): Promise<{ url: string }> {
  const running = await listen(
    createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(req.headers));
    }),
  );
  closers.push(running.close);
  return { url: running.url };
}

const PARENT_TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT_SPAN = 'b7ad6b7169203331';

async function serverSpans(count = 1): Promise<ReadableSpan[]> {
  const spans = () => exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.SERVER);
  await waitFor(() => spans().length >= count, 5000, `${count} server span(s)`);
  return spans();
}

describe.each(frameworks)('$name', (framework) => {
  async function start(...args: Parameters<typeof framework.start>): Promise<Running> {
    const running = await framework.start(...args);
    closers.push(running.close);
    return running;
  }

  it('names the server span by route and sets the stable attributes only', async () => {
    const { url } = await start();
    await (
      await fetch(`${url}/users/42?token=secret`, { headers: { 'x-secret': 'hidden' } })
    ).text();
    const [span] = await serverSpans();
    const { port } = new URL(url);
    expect(span?.name).toBe('GET /users/:id');
    expect(span?.attributes).toEqual({
      'http.request.method': 'GET',
      'url.path': '/users/42',
      'url.scheme': 'http',
      'http.route': '/users/:id',
      'http.response.status_code': 200,
      'server.address': '127.0.0.1',
      'server.port': Number(port),
      'network.protocol.version': '1.1',
      'user_agent.original': 'node',
      'client.address': '127.0.0.1',
      // Recorded by default, the values of credential parameters redacted.
      'url.query': 'token=REDACTED',
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

  it('records a thrown error, the exception event naming the same type as error.type', async () => {
    const { url } = await start();
    expect((await fetch(`${url}/boom`)).status).toBe(500);
    const [span] = await serverSpans();
    expect(span?.name).toBe('GET /boom');
    expect(span?.attributes['http.response.status_code']).toBe(500);
    expect(span?.attributes['error.type']).toBe('TypeError');
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    const exception = span?.events.find((e) => e.name === 'exception');
    expect(exception?.attributes?.['exception.type']).toBe('TypeError');
    expect(exception?.attributes?.['exception.message']).toBe('bad thing');
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
    await slowRoute.arrived;
    controller.abort();
    await expect(aborted).rejects.toThrow();
    const [span] = await serverSpans();
    expect(span?.name).toBe('GET /slow');
    expect(span?.attributes['error.type']).toBe('aborted');
    expect(span?.attributes).not.toHaveProperty('http.response.status_code');
  });

  it('records url.query, with the configured, the signature and the credential parameters redacted', async () => {
    const { url } = await start({ urlQuery: { redact: ['ssn'] } });
    await (
      await fetch(`${url}/users/1?page=2&token=s3cret&sig=abc&SSN=123&API_KEY=k&q=a%20b`)
    ).text();
    const [span] = await serverSpans();
    expect(span?.attributes['url.query']).toBe(
      'page=2&token=REDACTED&sig=REDACTED&SSN=REDACTED&API_KEY=REDACTED&q=a%20b',
    );
    expect(span?.attributes['url.path']).toBe('/users/1');
  });

  it('records no url.query with urlQuery: false, and none for a URL without a query', async () => {
    const off = await start({ urlQuery: false });
    await (await fetch(`${off.url}/users/1?page=2`)).text();
    const none = await start();
    await (await fetch(`${none.url}/users/2`)).text();
    const spans = await serverSpans(2);
    for (const span of spans) expect(span.attributes).not.toHaveProperty('url.query');
  });

  it('makes no span for ignored route templates or what the ignore predicate says', async () => {
    const byTemplate = await start({ ignore: ['/internal/:job'] });
    await (await fetch(`${byTemplate.url}/internal/7`)).text();
    await (await fetch(`${byTemplate.url}/users/1`)).text();
    const byPredicate = await start({ ignore: (req) => req.headers['x-synthetic'] === '1' });
    await (await fetch(`${byPredicate.url}/users/2`, { headers: { 'x-synthetic': '1' } })).text();
    await (await fetch(`${byPredicate.url}/users/3`)).text();
    // One request after the other: by the time the last one's span is in, an ignored one's
    // would be too.
    const spans = await serverSpans(2);
    const paths = exporter
      .getFinishedSpans()
      .filter((s) => s.kind === SpanKind.SERVER)
      .map((s) => s.attributes['url.path'])
      .sort();
    expect(paths).toEqual(['/users/1', '/users/3']);
    expect(spans).toHaveLength(2);
  });

  it('writes the span_id of a nested span in log lines inside it', async () => {
    const { url, sink } = await start();
    await (await fetch(`${url}/nested`)).text();
    const [server] = await serverSpans();
    const nested = exporter.getFinishedSpans().find((s) => s.name === 'load');
    const outer = sink.lines().find((l) => l.msg === 'in the server span');
    const inner = sink.lines().find((l) => l.msg === 'in a nested span');
    expect(outer?.span_id).toBe(server?.spanContext().spanId);
    expect(inner?.span_id).toBe(nested?.spanContext().spanId);
    expect(inner?.trace_id).toBe(server?.spanContext().traceId);
    expect(nested?.parentSpanContext?.spanId).toBe(server?.spanContext().spanId);
  });

  it('carries the trace to outgoing fetch and node:http calls, each under a CLIENT span', async () => {
    const downstream = await echoHeaders();
    const { url } = await start({}, downstream.url);
    const body = (await (await fetch(`${url}/call`)).json()) as {
      viaFetch: Record<string, string>;
      viaHttp: Record<string, string>;
    };
    const [server] = await serverSpans();
    const traceId = server?.spanContext().traceId;
    await waitFor(
      () =>
        exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT).length >=
        (httpTraced ? 2 : 1),
      5000,
      'the client spans',
    );
    const clients = exporter
      .getFinishedSpans()
      .filter((s) => s.kind === SpanKind.CLIENT && s.spanContext().traceId === traceId);
    const viaFetch = body.viaFetch.traceparent?.split('-');
    expect(viaFetch?.[1]).toBe(traceId);
    // The downstream's parent is the client span, itself a child of the server span.
    const fetchSpan = clients.find((s) => s.spanContext().spanId === viaFetch?.[2]);
    expect(fetchSpan?.parentSpanContext?.spanId).toBe(server?.spanContext().spanId);
    expect(fetchSpan?.attributes['http.response.status_code']).toBe(200);
    expect(fetchSpan?.attributes['server.address']).toBe('127.0.0.1');
    if (httpTraced) {
      const viaHttp = body.viaHttp.traceparent?.split('-');
      expect(viaHttp?.[1]).toBe(traceId);
      const httpSpan = clients.find((s) => s.spanContext().spanId === viaHttp?.[2]);
      expect(httpSpan?.name).toBe('GET');
      expect(httpSpan?.attributes['url.full']).toBe(`${downstream.url}/`);
      expect(httpSpan?.parentSpanContext?.spanId).toBe(server?.spanContext().spanId);
    } else {
      // Node.js 20: node:http was loaded before tracing started (see the README).
      expect(body.viaHttp.traceparent).toBeUndefined();
    }
  });

  it('leaves calls made with tracing suppressed (the SDK exporting) untraced', async () => {
    const downstream = await echoHeaders();
    const { url } = await start({}, downstream.url);
    const body = (await (await fetch(`${url}/call-suppressed`)).json()) as {
      viaFetch: Record<string, string>;
      viaHttp: Record<string, string>;
    };
    expect(body.viaFetch.traceparent).toBeUndefined();
    expect(body.viaHttp.traceparent).toBeUndefined();
    await serverSpans();
    // (The test's own fetch to the app is a CLIENT span of its own.)
    const toDownstream = exporter
      .getFinishedSpans()
      .filter(
        (s) =>
          s.kind === SpanKind.CLIENT && String(s.attributes['url.full']).startsWith(downstream.url),
      );
    expect(toDownstream).toEqual([]);
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
