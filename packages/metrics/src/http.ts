import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  invalidOption,
  normalizeMethod,
  onResponseDone,
  optionBoolean,
  optionObject,
  optionString,
  peekRequestContext,
  routeLabel,
  statusCodeLabel,
  statusOfOutcome,
} from '@obskit/core';

export { pathOf } from '@obskit/core';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createMetricsEndpoint, type MetricsEndpoint } from './endpoint.js';
import { metricHelpers, type MetricHelpers } from './registry.js';
import { gaugeOf, SeriesStore, type Exemplar, type PromMetric } from './series.js';
import type { HttpMetricsOptions } from './types.js';

/** Latency buckets for web requests, 5 ms to 10 s. */
export const DEFAULT_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);
/** Size buckets, 100 B to 10 MB. */
export const DEFAULT_SIZE_BUCKETS: readonly number[] = Object.freeze([
  100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000,
]);
/** Paths of the obskit health probes, not counted by default. */
export const HEALTH_PATHS: readonly string[] = Object.freeze([
  '/health',
  '/health/live',
  '/health/ready',
  '/health/startup',
]);

const kHttp = Symbol.for('obskit.metrics.http');

interface HttpState {
  store: SeriesStore;
  requestSizes?: SeriesStore;
  responseSizes?: SeriesStore;
  inFlight: { value: number };
}

export interface HttpMetrics extends MetricHelpers {
  /** The /metrics endpoint, unless turned off. */
  readonly endpoint: MetricsEndpoint | undefined;
  /** Whether a request path (without query) is left uncounted. */
  isExcluded(path: string): boolean;
  /**
   * Counts one request: call when it starts; `routeOf` is asked when the response is done and
   * returns the matched route template, or undefined when none matched.
   */
  track(req: IncomingMessage, res: ServerResponse, routeOf: () => string | undefined): void;
  /**
   * The two halves of `track`, for adapters whose framework already reports completion (Fastify's
   * onResponse and onRequestAbort hooks): `begin` when the request starts, `record` exactly once
   * when it is done (status 499 for a client that went away).
   */
  begin(): number;
  record(
    req: IncomingMessage,
    res: ServerResponse | undefined,
    start: number,
    route: string | undefined,
    statusCode: number,
  ): void;
}

function validBuckets(value: unknown, path: string, fallback: readonly number[]): number[] {
  if (value === undefined) return [...fallback];
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    value.some((b) => typeof b !== 'number' || !Number.isFinite(b) || b <= 0)
  ) {
    throw invalidOption(path, 'a non-empty array of positive numbers', value);
  }
  return [...new Set(value as number[])].sort((a, b) => a - b);
}

function register(registry: Registry, metric: PromMetric): PromMetric {
  const found = registry.getSingleMetric(metric.name) as unknown as PromMetric | undefined;
  if (found !== undefined) return found;
  registry.registerMetric(metric as never);
  return metric;
}

/**
 * The obskit HTTP metrics (`http_requests_total`, `http_request_duration_seconds`,
 * `http_requests_in_flight`, optional size histograms) on `registry`. A registry that already
 * holds them (the plugin registered twice, hot reload) is reused, never "already registered".
 */
function httpState(registry: Registry, prefix: string, options: HttpMetricsOptions): HttpState {
  const holder = registry as Registry & { [kHttp]?: Map<string, HttpState> };
  const states = (holder[kHttp] ??= new Map());
  const existing = states.get(prefix);
  if (existing !== undefined) return existing;

  const buckets = validBuckets(options.buckets, 'metrics.buckets', DEFAULT_DURATION_BUCKETS);
  const store = new SeriesStore(buckets);
  const inFlight = { value: 0 };
  register(
    registry,
    store.counter(
      `${prefix}http_requests_total`,
      'HTTP requests completed, by method, route and status code.',
    ),
  );
  register(
    registry,
    store.histogram(
      `${prefix}http_request_duration_seconds`,
      'HTTP request duration in seconds, by method, route and status code.',
    ),
  );
  register(
    registry,
    gaugeOf(
      `${prefix}http_requests_in_flight`,
      'HTTP requests being served now.',
      () => inFlight.value,
    ),
  );
  const state: HttpState = { store, inFlight };
  if (options.sizes === true) {
    const sizeBuckets = validBuckets(
      options.sizeBuckets,
      'metrics.sizeBuckets',
      DEFAULT_SIZE_BUCKETS,
    );
    state.requestSizes = new SeriesStore(sizeBuckets);
    state.responseSizes = new SeriesStore(sizeBuckets);
    register(
      registry,
      state.requestSizes.histogram(
        `${prefix}http_request_size_bytes`,
        'HTTP request body size in bytes (Content-Length), by method, route and status code.',
      ),
    );
    register(
      registry,
      state.responseSizes.histogram(
        `${prefix}http_response_size_bytes`,
        'HTTP response body size in bytes (Content-Length), by method, route and status code.',
      ),
    );
  }
  states.set(prefix, state);
  return state;
}

const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const reserved = new Set(['method', 'route', 'status_code', 'le']);

/** Resolves the options once and returns what the adapters call per request. */
export function createHttpMetrics(options: HttpMetricsOptions = {}): HttpMetrics {
  optionObject(options, 'metrics');
  const registry = options.registry ?? new Registry();
  if (
    !(registry instanceof Registry) &&
    typeof (registry as { metrics?: unknown }).metrics !== 'function'
  ) {
    throw invalidOption('metrics.registry', 'a prom-client Registry', registry);
  }
  const prefix = optionString(options.prefix, 'metrics.prefix', '');
  if (prefix !== '' && !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) {
    throw invalidOption(
      'metrics.prefix',
      'a metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)',
      prefix,
    );
  }
  const exemplars = optionBoolean(options.exemplars, 'metrics.exemplars', true);
  const includeObskit = optionBoolean(
    options.includeObskitEndpoints,
    'metrics.includeObskitEndpoints',
    false,
  );
  if (optionBoolean(options.defaultMetrics, 'metrics.defaultMetrics', true)) {
    // prom-client throws when its runtime metrics are registered twice on one registry.
    if (registry.getSingleMetric(`${prefix}process_cpu_user_seconds_total`) === undefined) {
      collectDefaultMetrics({ register: registry, prefix });
    }
  }
  const custom = optionObject(options.customLabels, 'metrics.customLabels');
  if (custom !== undefined) {
    if (
      !Array.isArray(custom.names) ||
      custom.names.some((n) => typeof n !== 'string' || !labelName.test(n) || reserved.has(n))
    ) {
      throw invalidOption(
        'metrics.customLabels.names',
        'an array of label names other than method, route, status_code, le',
        custom.names,
      );
    }
    if (typeof custom.values !== 'function')
      throw invalidOption('metrics.customLabels.values', 'a function', custom.values);
  }
  const endpoint =
    options.endpoint === false
      ? undefined
      : createMetricsEndpoint(registry, options.endpoint ?? {});
  if (
    options.excludePaths !== undefined &&
    (!Array.isArray(options.excludePaths) ||
      options.excludePaths.some((p) => typeof p !== 'string'))
  ) {
    throw invalidOption('metrics.excludePaths', 'an array of paths', options.excludePaths);
  }
  const excluded = new Set<string>(
    options.excludePaths ??
      (includeObskit ? [] : [...(endpoint ? [endpoint.path] : []), ...HEALTH_PATHS]),
  );

  const state = httpState(registry, prefix, options);
  const { store, requestSizes, responseSizes, inFlight } = state;
  const customNames = custom?.names ?? [];
  const customValues = custom?.values;

  const exemplarOf = (req: IncomingMessage, value: number): Exemplar | undefined => {
    // Peek, not create: without tracing there is no context to read, and attaching one to every
    // request costs measurably.
    const context = peekRequestContext(req);
    const traceId = context?.traceId;
    // Only sampled traces: an exemplar must lead to a trace that exists.
    if (context === undefined || traceId === undefined || context.traceFlags !== '01')
      return undefined;
    return {
      labelSet: { trace_id: traceId, span_id: context.spanId ?? '' },
      value,
      timestamp: Date.now() / 1000,
    };
  };

  const begin = (): number => {
    inFlight.value++;
    return performance.now();
  };

  const record = (
    req: IncomingMessage,
    res: ServerResponse | undefined,
    start: number,
    routeTemplate: string | undefined,
    statusCode: number,
  ): void => {
    inFlight.value--;
    const seconds = (performance.now() - start) / 1000;
    const method = normalizeMethod(req.method);
    const route = routeLabel(routeTemplate);
    const status = statusCodeLabel(statusCode);
    let key = `${method} ${route} ${status}`;
    let extra: Record<string, string> | undefined;
    if (customValues !== undefined) {
      extra = {};
      let values: Record<string, unknown> = {};
      try {
        values = customValues(req, res) ?? {};
      } catch {
        values = {};
      }
      for (const name of customNames) {
        const v = values[name];
        extra[name] = v === undefined || v === null ? '' : String(v);
        key += ` ${extra[name]}`;
      }
    }
    const labels = (): Record<string, string> => ({ method, route, status_code: status, ...extra });
    store.observe(
      store.get(key, labels),
      seconds,
      exemplars ? exemplarOf(req, seconds) : undefined,
    );
    if (requestSizes !== undefined && responseSizes !== undefined) {
      const inSize = Number(req.headers['content-length'] ?? 0);
      const outSize = Number(res?.getHeader('content-length') ?? 0);
      requestSizes.observe(
        requestSizes.get(key, labels),
        Number.isFinite(inSize) ? inSize : 0,
        undefined,
      );
      responseSizes.observe(
        responseSizes.get(key, labels),
        Number.isFinite(outSize) ? outSize : 0,
        undefined,
      );
    }
  };

  const track = (
    req: IncomingMessage,
    res: ServerResponse,
    routeOf: () => string | undefined,
  ): void => {
    const start = begin();
    onResponseDone(req, res, (outcome) => {
      let route: string | undefined;
      try {
        route = routeOf();
      } catch {
        route = undefined;
      }
      record(req, res, start, route, statusOfOutcome(outcome, res));
    });
  };

  return {
    ...metricHelpers(registry),
    endpoint,
    isExcluded: (path) => excluded.has(path),
    track,
    begin,
    record,
  };
}
