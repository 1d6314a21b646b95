// The whole pipeline in one trace, with the demo scaled out (PostgreSQL 127.0.0.1:5432, Redis
// 127.0.0.1:6379) and a real browser (Debian's Chromium through playwright-core): the page the
// API serves queues a job with its page load's traceparent; the spans of both processes reach an
// OTLP receiver. One trace id from the page load to the worker's last query, each span the child
// of the one that caused it.
import { existsSync } from 'node:fs';
import { otlpAttribute, waitFor, type OtlpSpan } from '@obskit/test-support';
import { SpanKind } from '@opentelemetry/api';
import pg from 'pg';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otlpReceiver, scaledOutServices, startApp } from './processes.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const services = scaledOutServices('pipeline');
const { pgConfig, database, queueName } = services;
let browser: Browser | undefined;

beforeAll(async () => {
  expect(
    existsSync(CHROMIUM),
    `Chromium is needed at ${CHROMIUM}: apt-get install chromium (node scripts/ensure-tools.mjs does it), or set CHROMIUM_PATH`,
  ).toBe(true);
  await services.setup();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}, 30_000);

afterAll(async () => {
  await browser?.close();
  await services.teardown();
});

const CLIENT = SpanKind.CLIENT + 1; // OTLP numbers kinds from 1
const SERVER = SpanKind.SERVER + 1;
const PRODUCER = SpanKind.PRODUCER + 1;
const CONSUMER = SpanKind.CONSUMER + 1;

describe('the whole pipeline in one trace', () => {
  it('browser page load ─► POST /jobs ─► INSERT, producer ─► worker consumer ─► its queries', async () => {
    const otlp = await otlpReceiver();
    const env = services.env(otlp.url);
    const api = await startApp('api', env);
    await startApp('worker', { ...env, WORKER_ID: 'w1' });

    const page = await browser!.newPage();
    await page.goto(`${api.url}/`);
    await page.waitForSelector('body[data-job]', { timeout: 10_000 });
    const jobId = Number(await page.getAttribute('body', 'data-job'));
    const metaTraceparent = await page.getAttribute('meta[name="traceparent"]', 'content');
    expect(metaTraceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const [, traceId, pageSpanId] = metaTraceparent!.split('-') as [string, string, string];

    const db = new pg.Client({ ...pgConfig, database });
    await db.connect();
    try {
      await waitFor(
        async () =>
          (await db.query('SELECT status FROM jobs WHERE id = $1', [jobId])).rows[0]?.status ===
          'done',
        20_000,
        `job ${jobId} to be done`,
      );
    } finally {
      await db.end();
    }
    const inTrace = (): OtlpSpan[] => otlp.spans.filter((s) => s.traceId === traceId);
    const byId = (id: string | undefined) => inTrace().find((s) => s.spanId === id);
    // Every span read below, from both processes' batches: the page load, the POST, its INSERT,
    // the producer, the consumer, and the worker's queries, each with its parent.
    const complete = (): boolean => {
      const all = inTrace();
      const consumer = all.find((s) => s.kind === CONSUMER);
      const queries = all.filter((s) => s.service === 'obskit-demo-worker' && s.kind === CLIENT);
      return (
        byId(pageSpanId) !== undefined &&
        all.some((s) => s.name === 'POST /jobs') &&
        all.some(
          (s) =>
            s.kind === CLIENT &&
            /^INSERT INTO jobs/.test(String(otlpAttribute(s, 'db.query.text'))),
        ) &&
        all.some((s) => s.kind === PRODUCER) &&
        consumer !== undefined &&
        queries.length >= 2 &&
        queries.every((q) => {
          let up = byId(q.parentSpanId);
          while (up !== undefined && up.spanId !== consumer.spanId) up = byId(up.parentSpanId);
          return up !== undefined;
        })
      );
    };
    await waitFor(complete, 15_000, 'every span of the trace, from both processes');
    const spans = inTrace();

    // The page load: the API's server span that rendered the page, whose id the meta tag holds.
    const pageLoad = byId(pageSpanId)!;
    expect(pageLoad).toMatchObject({ name: 'GET /', kind: SERVER, service: 'obskit-demo-api' });
    // The page's POST, continuing the page load's trace.
    const post = spans.find((s) => s.name === 'POST /jobs')!;
    expect(post.kind).toBe(SERVER);
    expect(post.parentSpanId).toBe(pageLoad.spanId);
    // Its INSERT and the queue's producer span, children of the request.
    const insert = spans.find(
      (s) =>
        s.kind === CLIENT && /^INSERT INTO jobs/.test(String(otlpAttribute(s, 'db.query.text'))),
    )!;
    expect(insert, 'the INSERT span').toBeDefined();
    expect(insert.service).toBe('obskit-demo-api');
    expect(insert.parentSpanId).toBe(post.spanId);
    expect(otlpAttribute(insert, 'db.system.name')).toBe('postgresql');
    const producer = spans.find((s) => s.kind === PRODUCER)!;
    expect(producer).toMatchObject({ name: `send ${queueName}`, service: 'obskit-demo-api' });
    expect(producer.parentSpanId).toBe(post.spanId);
    // The worker's consumer span, child of the producer's, in the other process.
    const consumer = spans.find((s) => s.kind === CONSUMER)!;
    expect(consumer).toMatchObject({ name: `${queueName} process`, service: 'obskit-demo-worker' });
    expect(consumer.parentSpanId).toBe(producer.spanId);
    // The worker's own queries, under its consumer span (through the job's step spans, if any).
    const workerQueries = spans.filter(
      (s) => s.service === 'obskit-demo-worker' && s.kind === CLIENT,
    );
    expect(workerQueries.length).toBeGreaterThanOrEqual(2);
    for (const query of workerQueries) {
      let up = byId(query.parentSpanId);
      while (up !== undefined && up.spanId !== consumer.spanId) up = byId(up.parentSpanId);
      expect(
        up?.spanId,
        `${String(otlpAttribute(query, 'db.query.text'))} under the consumer`,
      ).toBe(consumer.spanId);
    }
    // The page's web vitals reach the intake with the same traceparent, once the page is left.
    await page.close({ runBeforeUnload: true });
    await waitFor(
      async () =>
        /web_vitals_ttfb_seconds_count\{[^}]*page="\/"[^}]*\} [1-9]/.test(
          await (await fetch(`${api.url}/metrics`)).text(),
        ),
      10_000,
      'the page load TTFB at the intake',
    );
    await otlp.close();
  }, 90_000);
});
