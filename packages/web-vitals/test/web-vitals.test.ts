// The web-vitals intake on both frameworks: real pages in headless Chromium (Debian's `chromium`,
// driven by playwright-core) reporting through the browser bundle, and hostile beacons over HTTP.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createLogger } from '@obskit/core';
import type { WarnLogger } from '@obskit/core/internal';
import { listen, quietLogger, waitFor } from '@obskit/test-support';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import express from 'express';
import Fastify from 'fastify';
import { obskit as expressObskit } from 'obskit/express';
import { obskit as fastifyObskit, obskitServerOptions } from 'obskit/fastify';
import { chromium, type Browser } from 'playwright-core';
import type { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type {} from '@obskit/metrics/fastify';
import { traceparentMeta } from '../src/index.js';
import { webVitals as expressVitals } from '../src/express.js';
import { webVitals as fastifyVitals } from '../src/fastify.js';

const bundle = fileURLToPath(new URL('../browser/obskit-web-vitals.global.js', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const exporter = new InMemorySpanExporter();
const tracing = { exporter, processor: 'simple' as const, outgoing: false };
const PAGES = ['/products/:id', '/'];

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
  exporter.reset();
});

// A product page: a large heading for LCP, a button whose handler blocks for 120 ms (an INP worth
// reporting), and a late image-less box that shifts the layout (CLS).
const page = (meta: string) => `<!doctype html>
<html><head><meta charset="utf-8">${meta}<title>product</title>
<script src="/static/vitals.js"></script>
<script>obskitWebVitals.reportWebVitals();</script></head>
<body>
<h1 style="font-size:64px">A product worth looking at</h1>
<p id="lead">Some text below the heading.</p>
<button id="buy" style="font-size:24px">Buy</button>
<script>
document.getElementById('buy').addEventListener('click', () => {
  const end = performance.now() + 120;
  while (performance.now() < end) {}
  document.getElementById('lead').textContent = 'Bought.';
});
setTimeout(() => {
  const box = document.createElement('div');
  box.style.height = '200px';
  document.body.insertBefore(box, document.body.firstChild);
}, 300);
</script>
</body></html>`;

interface Running {
  url: string;
  registry: Registry;
}

const frameworks: {
  name: string;
  start(options?: { trustProxy?: boolean; json?: boolean }): Promise<Running>;
}[] = [
  {
    name: 'fastify',
    async start({ trustProxy = false } = {}) {
      const logger = createLogger({ service: 'shop', level: 'silent' });
      const options = { service: 'shop', logger, tracing, health: { shutdown: false as const } };
      const app = Fastify({ ...obskitServerOptions(options), trustProxy });
      await app.register(fastifyObskit, options);
      await app.register(fastifyVitals, { pages: PAGES, logger: quietLogger<WarnLogger>() });
      app.get('/products/:id', async (_request, reply) =>
        reply.type('text/html').send(page(traceparentMeta())),
      );
      app.get('/static/vitals.js', async (_request, reply) =>
        reply.type('text/javascript').send(readFileSync(bundle)),
      );
      await app.listen({ port: 0, host: '127.0.0.1' });
      closers.push(() => app.close());
      return {
        url: `http://127.0.0.1:${(app.server.address() as { port: number }).port}`,
        registry: app.metrics.registry,
      };
    },
  },
  {
    name: 'express',
    async start({ trustProxy = false, json = false } = {}) {
      const logger = createLogger({ service: 'shop', level: 'silent' });
      const o = expressObskit({ service: 'shop', logger, tracing, health: { shutdown: false } });
      const app = express();
      app.set('trust proxy', trustProxy);
      app.use(o);
      if (json) app.use(express.json());
      app.use(
        expressVitals({
          obskit: o,
          pages: PAGES,
          logger: quietLogger<WarnLogger>(),
        }),
      );
      app.get('/products/:id', (_req, res) => {
        res.type('html').send(page(traceparentMeta()));
      });
      app.get('/static/vitals.js', (_req, res) => {
        res.type('text/javascript').send(readFileSync(bundle));
      });
      const running = await listen(app);
      o.attach(running.server);
      closers.push(running.close);
      return { url: running.url, registry: o.metrics!.registry };
    },
  },
];

const scrape = async (url: string, openMetrics = false) =>
  (
    await fetch(`${url}/metrics`, {
      headers: openMetrics ? { accept: 'application/openmetrics-text; version=1.0.0' } : {},
    })
  ).text();

const count = (text: string, metric: string, labels: string): number => {
  const line = text.split('\n').find((l) => l.startsWith(`${metric}_count{`) && l.includes(labels));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
};

const beacon = (url: string, body: string, type = 'text/plain;charset=UTF-8') =>
  fetch(`${url}/telemetry/vitals`, { method: 'POST', headers: { 'content-type': type }, body });

describe('in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    expect(
      existsSync(CHROMIUM),
      `Chromium is needed at ${CHROMIUM}: apt-get install chromium (node scripts/ensure-tools.mjs does it), or set CHROMIUM_PATH`,
    ).toBe(true);
    expect(existsSync(bundle), 'the browser bundle is not built: run pnpm build').toBe(true);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 30_000);
  afterAll(async () => {
    await browser?.close();
  });

  it.each(frameworks)(
    '$name: a page reports LCP, CLS, FCP, TTFB and INP, linked to its server trace',
    async ({ start }) => {
      const app = await start();
      const tab = await browser.newPage();
      try {
        await tab.goto(`${app.url}/products/42`);
        const traceparent = await tab.getAttribute('meta[name="traceparent"]', 'content');
        expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
        await tab.waitForTimeout(600); // the layout shift, and paints settle
        await tab.click('#buy');
        // web-vitals works out the interaction when the browser is idle (within a second).
        await tab.waitForTimeout(1500);
        // Leaving the page hides it: web-vitals reports LCP, CLS and INP, the module sends them.
        await tab.goto('about:blank');
      } finally {
        await tab.close();
      }
      const labels = 'page="/products/:id"';
      await waitFor(
        async () => {
          const text = await scrape(app.url);
          return ['lcp_seconds', 'cls', 'fcp_seconds', 'ttfb_seconds', 'inp_seconds'].every(
            (m) => count(text, `web_vitals_${m}`, labels) >= 1,
          );
        },
        10_000,
        'every vital of the page load on /metrics',
      );
      const text = await scrape(app.url);
      // The INP is the 120 ms click handler, at least.
      const inp = text
        .split('\n')
        .find((l) => l.startsWith('web_vitals_inp_seconds_sum{') && l.includes(labels));
      expect(Number(inp?.split(' ')[1])).toBeGreaterThanOrEqual(0.1);
      const cls = text
        .split('\n')
        .find((l) => l.startsWith('web_vitals_cls_sum{') && l.includes(labels));
      expect(Number(cls?.split(' ')[1])).toBeGreaterThan(0);
      // The LCP's exemplar is the trace of the page load's server span.
      const server = exporter.getFinishedSpans().find((s) => s.name === 'GET /products/:id');
      const open = await scrape(app.url, true);
      const exemplar = open
        .split('\n')
        .find((l) => l.startsWith('web_vitals_lcp_seconds_bucket{') && l.includes('# {'));
      expect(exemplar).toContain(`trace_id="${server?.spanContext().traceId}"`);
      expect(exemplar).toContain(`span_id="${server?.spanContext().spanId}"`);
      // The intake itself is not an application request.
      expect(text).not.toContain('route="/telemetry/vitals"');
    },
    30_000,
  );
});

describe.each(frameworks)(
  'the intake after express.json() and on a broken body, on $name',
  ({ name, start }) => {
    it('answers a report a body parser already read, even an empty one, instead of waiting', async () => {
      const app = await start({ json: true });
      const answered = await fetch(`${app.url}/telemetry/vitals`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
        signal: AbortSignal.timeout(3000),
      });
      expect(answered.status, name).toBe(400);
    });
  },
);

describe.each(frameworks)('hostile beacons on $name', ({ start }) => {
  const good = (over: Record<string, unknown> = {}) =>
    JSON.stringify({
      page: '/products/7',
      metrics: [{ name: 'LCP', value: 1234, rating: 'good', id: 'v1' }],
      ...over,
    });

  it('records a valid beacon and refuses bad ones with the right status', async () => {
    const app = await start();
    expect((await beacon(app.url, good())).status).toBe(204);
    expect((await beacon(app.url, good(), 'application/json')).status).toBe(204);
    expect((await beacon(app.url, '{not json')).status).toBe(400);
    expect((await beacon(app.url, good(), 'application/x-www-form-urlencoded')).status).toBe(415);
    expect((await beacon(app.url, JSON.stringify({ page: '/', metrics: 'LCP' }))).status).toBe(400);
    expect((await beacon(app.url, JSON.stringify([1, 2]))).status).toBe(400);
    const big = good({ padding: 'x'.repeat(20_000) });
    expect((await beacon(app.url, big)).status).toBe(413);
    // Wrong types and values inside a report: the vital is skipped, the rest recorded.
    const mixed = JSON.stringify({
      page: '/products/8',
      traceparent: '00-<script>-bad-01',
      metrics: [
        { name: 'LCP', value: -5, rating: 'good' },
        { name: 'LCP', value: Number.MAX_VALUE, rating: 'good' },
        { name: 'LCP', value: '100', rating: 'good' },
        { name: 'FID', value: 10, rating: 'good' },
        { name: '__proto__', value: 10, rating: 'good' },
        { name: 'CLS', value: 0.05, rating: 'excellent' },
        { name: 'CLS', value: 0.05, rating: 'good' },
      ],
    });
    expect((await beacon(app.url, mixed)).status).toBe(204);
    const text = await scrape(app.url);
    expect(count(text, 'web_vitals_lcp_seconds', 'page="/products/:id",rating="good"')).toBe(2);
    expect(count(text, 'web_vitals_cls', 'page="/products/:id",rating="good"')).toBe(1);
    expect(text).toContain('web_vitals_rejected_total{reason="invalid_metric"} 6');
    expect(text).toContain('web_vitals_rejected_total{reason="too_large"} 1');
    expect(text).toContain('web_vitals_rejected_total{reason="unsupported_media_type"} 1');
    expect(text).toContain('web_vitals_rejected_total{reason="invalid"} 3');
    expect(text).not.toContain('<script>');
  });

  it("is one of the app's own endpoints: neither traced nor counted, whatever the method", async () => {
    const { url } = await start();
    expect((await beacon(url, good())).status).toBe(204);
    await (await fetch(`${url}/telemetry/vitals`)).arrayBuffer();
    await (await fetch(`${url}/products/1`)).text();
    await waitFor(
      () => exporter.getFinishedSpans().some((s) => s.name === 'GET /products/:id'),
      5000,
      'the page span',
    );
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['GET /products/:id']);
    const text = await scrape(url);
    const requests = text.split('\n').filter((l) => l.startsWith('http_requests_total{'));
    expect(requests.some((l) => l.includes('/telemetry/vitals'))).toBe(false);
    expect(requests.some((l) => l.includes('__unmatched__'))).toBe(false);
  });

  it('10,000 distinct page names stay one __other__ series', async () => {
    const app = await start();
    const vitalsLines = (text: string) =>
      text.split('\n').filter((l) => l.startsWith('web_vitals_')).length;
    const before = vitalsLines(await scrape(app.url));
    for (let i = 0; i < 100; i++) {
      await Promise.all(
        Array.from({ length: 100 }, (_, k) =>
          beacon(app.url, good({ page: `/random/${i}-${k}?q=${Math.random()}` })),
        ),
      );
    }
    const text = await scrape(app.url);
    const pages = new Set(
      text
        .split('\n')
        .filter((l) => l.startsWith('web_vitals_lcp_seconds_count{'))
        .map((l) => /page="([^"]*)"/.exec(l)?.[1]),
    );
    expect([...pages]).toEqual(['__other__']);
    // The 10,000 reports, beyond what the rate limit let through, were answered 429.
    const accepted = count(text, 'web_vitals_lcp_seconds', 'page="__other__"');
    const limited = Number(
      /web_vitals_rejected_total\{reason="rate_limited"\} (\d+)/.exec(text)?.[1] ?? 0,
    );
    expect(accepted + limited).toBe(10_000);
    // One histogram series (17 lines) for one page and rating, however many names were sent, and
    // the rate_limited counter.
    expect(vitalsLines(text) - before).toBeLessThanOrEqual(18);
  }, 60_000);

  it('answers one client’s flood with 429 beyond its rate, and takes its reports again after', async () => {
    const app = await start();
    const statuses = await Promise.all(
      Array.from({ length: 400 }, () => beacon(app.url, good()).then((r) => r.status)),
    );
    // 20 a second from one address (a burst of as many).
    expect(statuses.filter((s) => s === 204).length).toBeGreaterThanOrEqual(20);
    expect(statuses.filter((s) => s === 204).length).toBeLessThan(60);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(300);
    // The rate is per second: the wait for the next second is the behaviour under test.
    await new Promise((r) => setTimeout(r, 1100));
    expect((await beacon(app.url, good())).status).toBe(204);
  });

  it('keeps taking other clients’ beacons while one floods, under one ceiling for all', async () => {
    // Behind a proxy the framework is told to trust, the address is X-Forwarded-For's.
    const app = await start({ trustProxy: true });
    const from = (client: string) =>
      fetch(`${app.url}/telemetry/vitals`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', 'x-forwarded-for': client },
        body: good(),
      }).then((r) => r.status);
    const flood = await Promise.all(Array.from({ length: 100 }, () => from('203.0.113.7')));
    expect(flood.filter((s) => s === 429).length).toBeGreaterThan(50);
    expect(await from('198.51.100.2')).toBe(204);
    // Many clients at once still meet the ceiling over all of them (200 a second).
    const many = await Promise.all(
      Array.from({ length: 400 }, (_, i) => from(`10.0.${i >> 8}.${i & 255}`)),
    );
    expect(many.filter((s) => s === 429).length).toBeGreaterThan(100);
  });
});
