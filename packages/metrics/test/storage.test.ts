// The HTTP series are kept by obskit's own store (src/series.ts) and shown to prom-client's
// registry as metric objects. These tests hold the store to prom-client's own Counter and
// Histogram fed the same observations: the same JSON (`getMetricsAsJSON`, which cluster
// aggregation reads), the same text in both formats, the same aggregate over two workers.
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createHttpMetrics, METRIC_CONFLICT } from '../src/index.js';
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
