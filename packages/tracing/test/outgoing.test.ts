import { SpanKind, SpanStatusCode, context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { httpRequestsAnnounced, listen, quietLogger, waitFor } from '@obskit/test-support';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startTracing, withSpan, type TracingHandle } from '../src/index.js';

// The client spans of outgoing calls, fetch and node:http alike, made inside a span of the test's
// own: attributes, parent, injected headers, failures, aborts and the calls left alone.
const exporter = new InMemorySpanExporter();
let handle: TracingHandle;
beforeAll(() => {
  handle = startTracing({ exporter, processor: 'simple', logger: quietLogger() });
});
afterAll(() => handle.shutdown());

const closers: (() => Promise<unknown>)[] = [];
beforeEach(() => exporter.reset());
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

// node:http calls are announced to obskit on Node.js 22.14 and later only.
const httpTraced = httpRequestsAnnounced();

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
}

/** A downstream that answers `status` with the request headers it received as its body. */
async function downstream(status = 200): Promise<string> {
  const running = await listen((req, res) => {
    res.statusCode = status;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(req.headers));
  });
  closers.push(running.close);
  return running.url;
}

type Call = (
  url: string,
  init?: { method?: string; headers?: Record<string, string>; signal?: AbortSignal },
) => Promise<Answer>;

const viaFetch: Call = async (url, init) => {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, headers: text === '' ? {} : JSON.parse(text) };
};

const viaHttp: Call = (url, init = {}) =>
  new Promise((resolve, reject) => {
    const req = httpRequest(url, init, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: body === '' ? {} : JSON.parse(body) }),
      );
    });
    req.on('error', reject);
    req.end();
  });

const clients = [
  { name: 'fetch', call: viaFetch, traced: true },
  { name: 'node:http', call: viaHttp, traced: httpTraced },
];

const clientSpans = (): ReadableSpan[] =>
  exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);

async function oneClientSpan(): Promise<ReadableSpan> {
  await waitFor(() => clientSpans().length >= 1, 5000, 'the client span');
  return clientSpans()[0]!;
}

describe.each(clients)('$name', ({ call, traced }) => {
  it.runIf(traced)(
    'makes one CLIENT span under the active span, with the stable attributes, and injects its context',
    async () => {
      const url = await downstream();
      const { port } = new URL(url);
      let parentSpanId = '';
      const answer = await withSpan('parent', {}, async (parent) => {
        parentSpanId = parent.spanContext().spanId;
        return call(`${url}/stock/7?page=2`);
      });
      const span = await oneClientSpan();
      expect(span.name).toBe('GET');
      expect(span.parentSpanContext?.spanId).toBe(parentSpanId);
      expect(span.attributes).toMatchObject({
        'http.request.method': 'GET',
        'server.address': '127.0.0.1',
        'server.port': Number(port),
        'url.full': `${url}/stock/7?page=2`,
        'http.response.status_code': 200,
      });
      expect(span.status.code).toBe(SpanStatusCode.UNSET);
      const { traceId, spanId } = span.spanContext();
      expect(answer.headers.traceparent).toBe(`00-${traceId}-${spanId}-01`);
    },
  );

  it.runIf(traced)('names a non-standard method HTTP with _OTHER and the original', async () => {
    const url = await downstream();
    await call(url, { method: 'PURGE' });
    const span = await oneClientSpan();
    expect(span.name).toBe('HTTP');
    expect(span.attributes['http.request.method']).toBe('_OTHER');
    expect(span.attributes['http.request.method_original']).toBe('PURGE');
  });

  it.runIf(traced)('marks a 5xx answer as an error with error.type the status', async () => {
    const url = await downstream(503);
    expect((await call(url)).status).toBe(503);
    const span = await oneClientSpan();
    expect(span.attributes['http.response.status_code']).toBe(503);
    expect(span.attributes['error.type']).toBe('503');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
  });

  it.runIf(traced)('ends the span with the error when the connection is refused', async () => {
    const closed = await listen(() => {});
    await closed.close();
    await expect(call(`${closed.url}/`)).rejects.toThrow();
    const span = await oneClientSpan();
    expect(span.attributes['error.type']).toBe('ECONNREFUSED');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['http.response.status_code']).toBeUndefined();
    expect(span.events.map((e) => e.name)).toContain('exception');
  });

  it.runIf(traced)(
    'ends the span with the error when the server resets the connection',
    async () => {
      const reset = await listen((req) => req.socket.destroy());
      closers.push(reset.close);
      await expect(call(`${reset.url}/`)).rejects.toThrow();
      const span = await oneClientSpan();
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.attributes['error.type']).toMatch(/^[A-Za-z_]+$/);
    },
  );

  it.runIf(traced)('leaves a call the caller aborted without an error status', async () => {
    let received!: () => void;
    const arrived = new Promise<void>((resolve) => (received = resolve));
    const slow = await listen(() => received());
    closers.push(slow.close);
    const controller = new AbortController();
    const pending = call(`${slow.url}/`, { signal: controller.signal });
    await arrived;
    controller.abort();
    await expect(pending).rejects.toThrow();
    const span = await oneClientSpan();
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(span.attributes['error.type']).toBeUndefined();
  });

  it('makes no span and keeps the headers of a call that carries trace context already', async () => {
    const url = await downstream();
    const own = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const answer = await withSpan('parent', {}, () => call(url, { headers: { traceparent: own } }));
    expect(answer.headers.traceparent).toBe(own);
    // The parent span ends after the call: every client span would have ended before it.
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === 'parent'), 5000);
    expect(clientSpans()).toEqual([]);
  });

  it('makes no span for calls made with tracing suppressed (the exporter’s own)', async () => {
    const url = await downstream();
    const answer = await withSpan('parent', {}, () =>
      context.with(suppressTracing(context.active()), () => call(url)),
    );
    expect(answer.headers.traceparent).toBeUndefined();
    await waitFor(() => exporter.getFinishedSpans().some((s) => s.name === 'parent'), 5000);
    expect(clientSpans()).toEqual([]);
  });
});
