import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  bucketsOption,
  guardCallback,
  invalidOption,
  normalizeMethod,
  optionBoolean,
  optionFunction,
  optionObject,
  optionString,
  recordedRoute,
  registryOption,
  requestContextOf,
  routeLabel,
  statusCodeLabel,
  STEP,
  whenResponseDone,
  type PipelineStep,
  type RequestRecord,
} from '@obskit/core/internal';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { createMetricsEndpoint, type MetricsEndpoint } from './endpoint.js';
import { metricHelpers, type MetricHelpers } from './registry.js';
import { InFlight, kSeriesMetric, seriesKey } from './series.js';
import { conflict, histogramStore, seriesMetric } from './stores.js';
import type { HttpMetricsOptions } from './types.js';

/** Latency buckets for web requests, 5 ms to 10 s. */
export const DEFAULT_DURATION_BUCKETS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);
/** Size buckets, 100 B to 10 MB. */
export const DEFAULT_SIZE_BUCKETS: readonly number[] = Object.freeze([
  100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000,
]);

export interface HttpMetrics extends MetricHelpers {
  /** The /metrics endpoint, unless turned off. */
  readonly endpoint: MetricsEndpoint | undefined;
  /**
   * The steps in the app's request pipeline: `http_requests_in_flight` +1 when the request
   * begins (not for obskit's own endpoints, unless `includeObskitEndpoints`); when the response
   * is done, −1 and the request under its route and status (499 for a client that went away,
   * 500 for a response that failed before its head was sent), unless it is excluded.
   */
  readonly step: PipelineStep;
  /**
   * Counts one request of a server without a framework adapter: `http_requests_in_flight` +1
   * now; when the response is done, −1 and the request under the route `routeOf` returns then
   * (the matched template, or undefined) and its status, through the same steps.
   */
  track(req: IncomingMessage, res: ServerResponse, routeOf: () => string | undefined): void;
}

const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const reserved = new Set(['method', 'route', 'status_code', 'le']);

/** Resolves the options once and returns what the adapters call per request. */
export function createHttpMetrics(options: HttpMetricsOptions = {}): HttpMetrics {
  optionObject(options, 'metrics');
  const registry = registryOption(options.registry ?? new Registry(), 'metrics.registry');
  const prefix = optionString(options.prefix, 'metrics.prefix', '');
  if (prefix !== '' && !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(prefix)) {
    throw invalidOption(
      'metrics.prefix',
      'a metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)',
      prefix,
    );
  }
  const logger = options.logger;
  const exemplars = optionBoolean(options.exemplars, 'metrics.exemplars', true);
  const includeObskit = optionBoolean(
    options.includeObskitEndpoints,
    'metrics.includeObskitEndpoints',
    false,
  );
  const buckets = bucketsOption(options.buckets, 'metrics.buckets', DEFAULT_DURATION_BUCKETS);
  const sizes = optionBoolean(options.sizes, 'metrics.sizes', false);
  const sizeBuckets = bucketsOption(
    options.sizeBuckets,
    'metrics.sizeBuckets',
    DEFAULT_SIZE_BUCKETS,
  );
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
  const excludePaths = options.excludePaths ?? [];
  if (!Array.isArray(excludePaths) || excludePaths.some((p) => typeof p !== 'string')) {
    throw invalidOption('metrics.excludePaths', 'an array of route templates', excludePaths);
  }
  const excludedRoutes = new Set<string>(excludePaths);
  const excludeOption = optionFunction<(req: IncomingMessage) => boolean>(
    options.exclude,
    'metrics.exclude',
  );
  const excludeFn =
    excludeOption === undefined
      ? undefined
      : guardCallback(excludeOption, 'metrics.exclude', false, logger);

  if (optionBoolean(options.defaultMetrics, 'metrics.defaultMetrics', true)) {
    // prom-client throws when its runtime metrics are registered twice on one registry.
    if (registry.getSingleMetric(`${prefix}process_cpu_user_seconds_total`) === undefined) {
      collectDefaultMetrics({ register: registry, prefix });
    }
  }
  const endpoint =
    options.endpoint === false
      ? undefined
      : createMetricsEndpoint(registry, { logger, ...options.endpoint });

  // The series: obskit's own if this registry has them already, else registered now.
  const durationName = `${prefix}http_request_duration_seconds`;
  const store = histogramStore(
    registry,
    durationName,
    'HTTP request duration in seconds, by method, route and status code.',
    buckets,
    'metrics.buckets',
  );
  const totalName = `${prefix}http_requests_total`;
  const counter = seriesMetric(registry, totalName, () =>
    store.counter(totalName, 'HTTP requests completed, by method, route and status code.'),
  );
  if (counter[kSeriesMetric] !== store) throw conflict(totalName, counter);
  const inFlightName = `${prefix}http_requests_in_flight`;
  const inFlight = seriesMetric(registry, inFlightName, () =>
    new InFlight().gauge(inFlightName, 'HTTP requests being served now.'),
  )[kSeriesMetric] as InFlight;
  const requestSizes = sizes
    ? histogramStore(
        registry,
        `${prefix}http_request_size_bytes`,
        'HTTP request body size in bytes (Content-Length), by method, route and status code.',
        sizeBuckets,
        'metrics.sizeBuckets',
      )
    : undefined;
  const responseSizes = sizes
    ? histogramStore(
        registry,
        `${prefix}http_response_size_bytes`,
        'HTTP response body size in bytes (Content-Length), by method, route and status code.',
        sizeBuckets,
        'metrics.sizeBuckets',
      )
    : undefined;

  const customNames = custom?.names ?? [];
  const customValues =
    custom === undefined
      ? undefined
      : guardCallback(custom.values, 'metrics.customLabels.values', {}, logger);

  // Only sampled traces: an exemplar must lead to a trace that was kept.
  const exemplarOf = (context: RequestRecord): Record<string, string> | undefined => {
    if (context.traceId === undefined || context.traceFlags !== '01') return undefined;
    return { trace_id: context.traceId, span_id: context.spanId ?? '' };
  };

  const record = (req: IncomingMessage, res: ServerResponse, context: RequestRecord): void => {
    inFlight.value--;
    const route = routeLabel(recordedRoute(context));
    if (excludedRoutes.has(route) || (excludeFn !== undefined && excludeFn(req) === true)) return;
    const seconds = (performance.now() - context.start) / 1000;
    const method = normalizeMethod(req.method);
    const status = statusCodeLabel(context.statusCode);
    let key: string;
    let labels: () => Record<string, string>;
    if (customValues === undefined) {
      key = seriesKey(method, status, route);
      labels = () => ({ method, route, status_code: status });
    } else {
      const values = customValues(req, res) ?? {};
      const extra: Record<string, string> = {};
      const list: string[] = [];
      for (const name of customNames) {
        const v = (values as Record<string, unknown>)[name];
        const text = v === undefined || v === null ? '' : String(v);
        extra[name] = text;
        list.push(text);
      }
      key = seriesKey(method, status, route, list);
      labels = () => ({ method, route, status_code: status, ...extra });
    }
    store.observe(store.get(key, labels), seconds, exemplars ? exemplarOf(context) : undefined);
    if (requestSizes !== undefined && responseSizes !== undefined) {
      const inSize = Number(req.headers['content-length'] ?? 0);
      const outSize = Number(res.getHeader('content-length') ?? 0);
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

  const step: PipelineStep = {
    order: STEP.metrics,
    route: true,
    begin(_req, _res, context) {
      if (context.endpoint !== undefined && !includeObskit) return;
      context.counted = true;
      inFlight.value++;
    },
    end(req, res, context) {
      if (context.counted) record(req, res, context);
    },
  };

  const track: HttpMetrics['track'] = (req, res, routeOf) => {
    const context = requestContextOf(req);
    if (context.start === 0) context.start = performance.now();
    step.begin!(req, res, context, req, res);
    whenResponseDone(req, res, context, {
      end(rq, rs, done) {
        done.route ??= routeOf();
        step.end!(rq, rs, done);
      },
    });
  };

  return { ...metricHelpers(registry), endpoint, step, track };
}
