// The HTTP series are kept by obskit's own store (src/series.ts) and shown to prom-client's
// registry as metric objects. These tests hold the store to prom-client's own Counter and
// Histogram fed the same observations: the same JSON (`getMetricsAsJSON`, which cluster
// aggregation reads), the same text in both formats, the same aggregate over two workers.
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createHttpMetrics, METRIC_CONFLICT, renderMetrics } from '../src/index.js';
import { InFlight, seriesKey, SeriesStore } from '../src/series.js';

const BUCKETS = [0.005, 0.05, 0.5, 5];
const HELP = 'help text';

interface Observation {
  method: string;
  route: string;
  status: string;
  seconds: number;
}

const observations: Observation[] = [
  { method: 'GET', route: '/users/:id', status: '200', seconds: 0.003 },
  { method: 'GET', route: '/users/:id', status: '200', seconds: 0.04 },
  { method: 'POST', route: '/users', status: '201', seconds: 0.2 },
  { method: 'GET', route: '__unmatched__', status: '404', seconds: 0.001 },
  { method: 'GET', route: '/slow', status: '499', seconds: 9 },
  { method: 'GET', route: '/users/:id', status: '500', seconds: 0.05 },
];

/** obskit's store and prom-client's own metrics, in two registries, fed the same requests. */
function both(list: Observation[] = observations): { ours: Registry; theirs: Registry } {
  const ours = new Registry();
  const store = new SeriesStore(BUCKETS);
  ours.registerMetric(store.counter('http_requests_total', HELP) as never);
  ours.registerMetric(store.histogram('http_request_duration_seconds', HELP) as never);
  const inFlight = new InFlight();
  ours.registerMetric(inFlight.gauge('http_requests_in_flight', HELP) as never);

  const theirs = new Registry();
  const labelNames = ['method', 'route', 'status_code'];
  const counter = new Counter({
    name: 'http_requests_total',
    help: HELP,
    labelNames,
    registers: [theirs],
  });
  const histogram = new Histogram({
    name: 'http_request_duration_seconds',
    help: HELP,
    labelNames,
    buckets: BUCKETS,
    registers: [theirs],
  });
  const gauge = new Gauge({
    name: 'http_requests_in_flight',
    help: HELP,
    registers: [theirs],
  });
  gauge.set(0);

  for (const o of list) {
    const labels = { method: o.method, route: o.route, status_code: o.status };
    store.observe(
      store.get(seriesKey(o.method, o.status, o.route), () => labels),
      o.seconds,
      undefined,
    );
    counter.inc(labels);
    histogram.observe(labels, o.seconds);
  }
  return { ours, theirs };
}

// prom-client's histogram values carry `exemplar: undefined`/`null` and an empty label set's
// `sharedLabels`; the contract is about names, labels and values.
function normalise(json: unknown): unknown {
  return JSON.parse(
    JSON.stringify(json, (key, value: unknown) =>
      (key === 'exemplar' && (value === null || value === undefined)) || key === 'sharedLabels'
        ? undefined
        : value,
    ),
  );
}

describe('the HTTP series store against prom-client', () => {
  it('gives the same getMetricsAsJSON', async () => {
    const { ours, theirs } = both();
    expect(normalise(await ours.getMetricsAsJSON())).toEqual(
      normalise(await theirs.getMetricsAsJSON()),
    );
  });

  it('renders the same Prometheus text and OpenMetrics', async () => {
    const { ours, theirs } = both();
    expect(await ours.metrics()).toBe(await theirs.metrics());
    ours.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
    theirs.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it('aggregates over two workers as prom-client does (AggregatorRegistry.aggregate)', async () => {
    const a = both(observations.slice(0, 3));
    const b = both(observations.slice(2));
    const ours = AggregatorRegistry.aggregate([
      await a.ours.getMetricsAsJSON(),
      await b.ours.getMetricsAsJSON(),
    ] as never);
    const theirs = AggregatorRegistry.aggregate([
      await a.theirs.getMetricsAsJSON(),
      await b.theirs.getMetricsAsJSON(),
    ] as never);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    expect(await ours.metrics()).toContain(
      'http_requests_total{method="POST",route="/users",status_code="201"} 2',
    );
  });

  it('keys series so that no two label sets can collide', () => {
    // A route with a space, and custom values with spaces, quotes or commas.
    expect(seriesKey('GET', '200', '/a b')).not.toBe(seriesKey('GET', '200', '/a', ['b']));
    expect(seriesKey('GET', '200', '/x', ['x y', 'z'])).not.toBe(
      seriesKey('GET', '200', '/x', ['x', 'y z']),
    );
    expect(seriesKey('GET', '200', '/x', ['a","b'])).not.toBe(
      seriesKey('GET', '200', '/x', ['a', 'b']),
    );
  });
});

describe('registration', () => {
  it('shares the series of two recorders on one registry, and refuses other buckets', () => {
    const registry = new Registry();
    createHttpMetrics({ registry, defaultMetrics: false });
    expect(() => createHttpMetrics({ registry, defaultMetrics: false })).not.toThrow();
    expect(() => createHttpMetrics({ registry, defaultMetrics: false, buckets: [1, 2] })).toThrow(
      `${METRIC_CONFLICT}: metrics.buckets must match the buckets of the http_request_duration_seconds already in this registry`,
    );
  });

  it('fails at registration, with a coded error, on a name some other metric holds', () => {
    const registry = new Registry();
    new Counter({ name: 'http_requests_total', help: 'mine', registers: [registry] });
    expect(() => createHttpMetrics({ registry, defaultMetrics: false })).toThrow(
      'OBSKIT_ERR_METRIC_CONFLICT: metric http_requests_total is already registered in this registry by something other than',
    );
  });
});

// /metrics writes obskit's own series itself and every other metric through prom-client: the text
// must be exactly what prom-client's `registry.metrics()` writes for the same registry.
describe("obskit's text writer against prom-client's", () => {
  const exemplar = { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736', span_id: '00f067aa0ba902b7' };

  function registry(labelsOf: (i: number) => Record<string, string>, n: number): Registry {
    const r = new Registry();
    // Other metrics around obskit's, in registration order: a counter named *_total, a gauge, a
    // histogram, a counter without the suffix.
    new Counter({
      name: 'orders_total',
      help: 'Orders.\nSecond line \\ backslash',
      registers: [r],
    }).inc(3);
    const store = new SeriesStore(BUCKETS);
    r.registerMetric(store.counter('http_requests_total', HELP) as never);
    new Gauge({ name: 'queue_size', help: HELP, labelNames: ['q'], registers: [r] }).set(
      { q: 'a"b' },
      2,
    );
    r.registerMetric(
      store.histogram('http_request_duration_seconds', 'duration "quoted"') as never,
    );
    r.registerMetric(new InFlight().gauge('http_requests_in_flight', HELP) as never);
    new Histogram({ name: 'db_seconds', help: HELP, buckets: [0.1, 1], registers: [r] }).observe(
      0.5,
    );
    new Counter({ name: 'bytes_sent', help: HELP, registers: [r] }).inc(7);
    for (let i = 0; i < n; i++) {
      const labels = labelsOf(i);
      const key = JSON.stringify(labels);
      store.observe(
        store.get(key, () => labels),
        [0.001, 0.04, 0.3, 7, Infinity][i % 5]!,
        i % 3 === 0 ? exemplar : undefined,
      );
    }
    return r;
  }

  async function promClientText(r: Registry, openMetrics: boolean): Promise<string> {
    if (!openMetrics) return r.metrics();
    const metrics = r.getMetricsAsArray() as unknown as { name: string }[];
    const names = metrics.map((m) => m.name);
    r.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
    try {
      return await r.metrics();
    } finally {
      r.setContentType(Registry.PROMETHEUS_CONTENT_TYPE as never);
      metrics.forEach((m, i) => (m.name = names[i]!));
    }
  }

  const hostile = (i: number) => ({
    method: ['GET', 'POST'][i % 2]!,
    route: [`/users/:id`, '/a "quoted" \\ path', '/new\nline', '/ünïcödé/✓', ''][i % 5]!,
    status_code: String(200 + (i % 7)),
    tenant: `t${i}`,
  });

  it('writes the same text in both formats, exemplars and escapes included', async () => {
    const r = registry(hostile, 40);
    const prometheus = await renderMetrics(r, false);
    expect(prometheus).toBe(await promClientText(r, false));
    expect(prometheus).toContain('route="/a \\"quoted\\" \\\\ path"');
    const open = await renderMetrics(r, true);
    expect(open).toBe(await promClientText(r, true));
    expect(open).toContain(`# {trace_id="${exemplar.trace_id}",span_id="${exemplar.span_id}"}`);
    expect(open).toMatch(/^http_requests_total\{.*\} \d+ # \{trace_id=/m);
    expect(open.endsWith('# EOF\n')).toBe(true);
    // The registry is as it was: names and format.
    expect(r.contentType).toBe(Registry.PROMETHEUS_CONTENT_TYPE);
    expect(await renderMetrics(r, false)).toBe(prometheus);
  });

  it('writes empty stores and label-less series as prom-client does', async () => {
    for (const n of [0, 3]) {
      const r = registry(() => ({}), n);
      expect(await renderMetrics(r, false)).toBe(await promClientText(r, false));
      expect(await renderMetrics(r, true)).toBe(await promClientText(r, true));
    }
  });

  it('gives the event loop turns while it writes many series, and writes them all', async () => {
    const r = registry((i) => ({ method: 'GET', route: `/r/${i}`, status_code: '200' }), 1600);
    let turns = 0;
    let running = true;
    const tick = () => {
      turns++;
      if (running) setImmediate(tick);
    };
    setImmediate(tick);
    const text = await renderMetrics(r, false);
    running = false;
    expect(turns).toBeGreaterThanOrEqual(3);
    expect(text).toBe(await promClientText(r, false));
  });

  it("writes a registry's default labels as prom-client does, in both formats", async () => {
    const r = registry(hostile, 5);
    r.setDefaultLabels({ region: 'eu-1', zone: 'a "b"' });
    expect(await renderMetrics(r, true)).toBe(await promClientText(r, true));
    const text = await renderMetrics(r, false);
    expect(text).toBe(await promClientText(r, false));
    expect(text).toContain('http_requests_in_flight{region="eu-1",zone="a \\"b\\""} 0');
    expect(text).toMatch(/http_request_duration_seconds_count\{.*region="eu-1".*\} \d/);
  });

  it('leaves the registry as it was: its format, its metric names, no render waiting on another', async () => {
    const r = registry(hostile, 5);
    const names = r.getMetricsAsArray().map((m) => m.name);
    const [open, plain] = await Promise.all([renderMetrics(r, true), renderMetrics(r, false)]);
    expect(open.endsWith('# EOF\n')).toBe(true);
    expect(plain).toBe(await promClientText(r, false));
    expect(r.getMetricsAsArray().map((m) => m.name)).toEqual(names);
    expect(r.contentType).toBe(Registry.PROMETHEUS_CONTENT_TYPE);
  });
});
