import {
  createLogger,
  droppedLogLines,
  existingMetric,
  invalidOption,
  optionBoolean,
  optionFunction,
  optionObject,
  optionString,
  serviceIdentity,
  type Logger,
} from '@obskit/core/internal';
import { HEALTH_DEFAULTS, shutdownEnv, type HealthOptions } from '@obskit/health';
import { Registry, type HttpMetricsOptions } from '@obskit/metrics';
import { Counter } from 'prom-client';
import type { RequestIdOptions } from '@obskit/request-id';
import { getTracingHandle, startTracing, type TracingOptions } from '@obskit/tracing';
import type { TracingPluginOptions } from '@obskit/tracing/fastify';
import type { AccessLogOptions, OnError } from './request-log.js';

/** The server spans' options, as the tracing plugin and middleware take them. */
export type ServerSpanOptions = Pick<
  TracingPluginOptions,
  'ignore' | 'urlQuery' | 'includeObskitEndpoints' | 'logger'
>;
/** The server spans' own options under `tracing` (obskit's endpoints: `includeObskitEndpoints`). */
type TracingSpanOptions = Pick<TracingPluginOptions, 'ignore' | 'urlQuery'>;

export interface ObskitOptions {
  /** Service name for logs, traces and health. */
  service: string;
  /** Default: the application's package.json version (see `serviceIdentity` in `@obskit/core`). */
  version?: string;
  /** Default: `NODE_ENV`, else `development`. */
  env?: string;
  /** The logger; default `createLogger({ service, version, env })`. */
  logger?: Logger;
  requestId?: RequestIdOptions | false;
  /**
   * Tracing, started here unless it already runs (`startTracing` options), and the server spans'
   * own options (`ignore`, `urlQuery`).
   */
  tracing?: (TracingOptions & TracingSpanOptions) | false;
  metrics?: HttpMetricsOptions | false;
  health?: HealthOptions | false;
  /**
   * One access log line per request (`request completed`). Default true; `false` for none, or
   * `{ customLogLevel, ignore }` as pino-http takes them.
   */
  accessLog?: boolean | AccessLogOptions;
  /**
   * Record obskit's own endpoints (the probes, `/metrics`, intakes) in metrics, spans and access
   * lines alike, each under its path as the route, whatever the method. Default false: they are
   * left out of all three.
   */
  includeObskitEndpoints?: boolean;
  /**
   * Called once for each request that fails (a 5xx with an error), with the error and
   * `{ request, route, statusCode, reqId, traceId, spanId }`; one that throws is reported once
   * and ignored. `sentryOnError(Sentry)` from `obskit/sentry` reports to Sentry.
   */
  onError?: OnError;
  /**
   * A crash outside any request (an uncaught exception, an unhandled rejection) writes one `fatal`
   * line with `err` through the obskit logger before the process ends, as Node.js (or Sentry)
   * ends it: nothing else changes. Default true; once per process, the first umbrella's logger.
   */
  logCrashes?: boolean;
}

/** The umbrella's options resolved once: each feature's own options, ready to pass on. */
export interface ResolvedOptions {
  service: string;
  version: string;
  env: string;
  logger: Logger;
  requestId: RequestIdOptions | false;
  /** The server spans' options, or false when tracing is off. */
  tracing: ServerSpanOptions | false;
  metrics: HttpMetricsOptions | false;
  health: HealthOptions | false;
  accessLog: boolean | AccessLogOptions;
  onError: OnError | undefined;
  includeObskitEndpoints: boolean;
}

/**
 * `log_lines_dropped_total`: lines the obskit log destinations of this process dropped while
 * their destination took nothing (see `logDestination` in `@obskit/core`), read at scrape time.
 */
function droppedLinesMetric(registry: Registry): void {
  const name = 'log_lines_dropped_total';
  if (existingMetric(registry, name, 'counter', 'obskit') !== undefined) return;
  new Counter({
    name,
    help: 'Log lines dropped because the log destination took nothing and its buffer was full.',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(droppedLogLines());
    },
  });
}

/**
 * `otel_spans_dropped_total{reason="export_failed"}` and `otel_span_export_failures_total`: the
 * spans lost to exports that failed or timed out (a collector down or not answering), and those
 * exports, from the tracing started in this process, read at scrape time.
 */
function spanDeliveryMetrics(registry: Registry): void {
  const dropped = 'otel_spans_dropped_total';
  if (existingMetric(registry, dropped, 'counter', 'obskit') === undefined) {
    new Counter({
      name: dropped,
      help: 'Spans lost because their export failed or timed out, by reason.',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        this.reset();
        this.inc({ reason: 'export_failed' }, getTracingHandle()?.delivery?.failed ?? 0);
      },
    });
  }
  const failures = 'otel_span_export_failures_total';
  if (existingMetric(registry, failures, 'counter', 'obskit') === undefined) {
    new Counter({
      name: failures,
      help: 'Span exports that failed or timed out.',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(getTracingHandle()?.delivery?.failedExports ?? 0);
      },
    });
  }
}

const kCrashes = Symbol.for('obskit.crashLine');

/**
 * One `fatal` line for a crash outside any request, from Node.js's `uncaughtExceptionMonitor`
 * (which sees unhandled rejections too, and changes nothing about how the process ends); the
 * obskit log destination writes what it holds at exit, this line included.
 */
function logCrashes(logger: Logger): void {
  const store = globalThis as Record<symbol, unknown>;
  if (store[kCrashes] !== undefined) return;
  store[kCrashes] = true;
  process.on('uncaughtExceptionMonitor', (err, origin) => {
    logger.fatal(
      { err, origin },
      origin === 'unhandledRejection' ? 'unhandled rejection' : 'uncaught exception',
    );
  });
}

/**
 * The graceful shutdown's last hook: pending spans flushed, within `ms` (a collector that is down
 * or does not answer must not hold the exit past its deadline); what could not be sent is said.
 */
/** The span flush's share of the shutdown deadline: a quarter of it, 5 s at most. */
function flushMs(shutdown: { timeoutMs?: number } | undefined): number {
  const deadline =
    shutdown?.timeoutMs ?? shutdownEnv().timeoutMs ?? HEALTH_DEFAULTS.shutdownTimeoutMs;
  return Math.min(5000, Math.floor(deadline / 4));
}

async function flushSpans(logger: Logger, ms: number): Promise<void> {
  const handle = getTracingHandle();
  if (handle === undefined) return;
  const { completed, pending } = await handle.shutdownWithin(ms);
  if (!completed) {
    logger.warn(
      { pending, flushMs: ms },
      `shutdown: the span flush did not finish within ${ms} ms (the collector is down or does not answer); ${pending} span(s) not delivered`,
    );
  }
}

function accessLogOption(value: ObskitOptions['accessLog']): boolean | AccessLogOptions {
  if (value === undefined || typeof value === 'boolean') return value ?? true;
  optionObject(value, 'obskit.accessLog');
  optionFunction(value.customLogLevel, 'obskit.accessLog.customLogLevel');
  optionFunction(value.ignore, 'obskit.accessLog.ignore');
  return value;
}

function section<T extends object>(value: T | false | undefined, path: string): T | false {
  if (value === false) return false;
  return optionObject(value, path) ?? ({} as T);
}

/** Resolves the umbrella options once, starting tracing when asked and not yet running. */
export function resolveOptions(options: ObskitOptions): ResolvedOptions {
  if (options === undefined || options === null || typeof options !== 'object') {
    throw invalidOption('obskit', 'an object with at least { service }', options);
  }
  const service = optionString(options.service, 'obskit.service');
  if (service === undefined) throw invalidOption('obskit.service', 'a non-empty string', undefined);
  const identity = serviceIdentity(
    { service, version: options.version, env: options.env },
    'obskit',
  );
  const logger = options.logger ?? createLogger(identity);
  if (optionBoolean(options.logCrashes, 'obskit.logCrashes', true)) logCrashes(logger);
  const includeObskitEndpoints = optionBoolean(
    options.includeObskitEndpoints,
    'obskit.includeObskitEndpoints',
    false,
  );
  const tracingOptions = section(options.tracing, 'obskit.tracing');
  let tracing: ServerSpanOptions | false = false;
  if (tracingOptions !== false) {
    const handle =
      getTracingHandle() ??
      startTracing({
        serviceName: identity.service,
        serviceVersion: identity.version,
        environment: identity.env,
        logger,
        ...tracingOptions,
      });
    if (handle.enabled) {
      const { ignore, urlQuery } = tracingOptions;
      tracing = { logger, ignore, urlQuery, includeObskitEndpoints };
    }
  }
  const requestId = section(options.requestId, 'obskit.requestId');
  let health = section(options.health, 'obskit.health');
  let metrics = section(options.metrics, 'obskit.metrics');
  if (metrics !== false) {
    metrics = {
      ...metrics,
      registry:
        metrics.registry ??
        (health === false ? undefined : (health.registry as Registry | undefined)) ??
        new Registry(),
    };
    droppedLinesMetric(metrics.registry as Registry);
    spanDeliveryMetrics(metrics.registry as Registry);
  }
  if (metrics !== false && health !== false) {
    // One registry for both, so /metrics also shows health_check_status and _duration_seconds.
    const registry =
      metrics.registry ?? (health.registry as Registry | undefined) ?? new Registry();
    metrics = { ...metrics, registry };
    if (health.registry === undefined) health = { ...health, registry };
  }
  // Decided once: the span flush's share of the shutdown deadline.
  const spanFlushMs = health === false ? 0 : flushMs(health.shutdown || undefined);
  return {
    ...identity,
    logger,
    requestId: requestId === false ? false : { logger, ...requestId },
    tracing,
    metrics: metrics === false ? false : { logger, ...metrics, includeObskitEndpoints },
    health:
      health === false
        ? false
        : {
            version: identity.version,
            logger,
            ...health,
            shutdown:
              health.shutdown === false
                ? false
                : {
                    ...health.shutdown,
                    // Flush pending spans after the other hooks (the database may log spans),
                    // within a quarter of the deadline, 5 s at most.
                    onShutdown: [
                      ...[health.shutdown?.onShutdown ?? []].flat(),
                      () => flushSpans(logger, spanFlushMs),
                    ],
                  },
          },
    accessLog: accessLogOption(options.accessLog),
    onError: optionFunction<OnError>(options.onError, 'obskit.onError'),
    includeObskitEndpoints,
  };
}
