import type { IncomingMessage } from 'node:http';
import {
  createLogger,
  getRequestContext,
  invalidOption,
  optionBoolean,
  optionObject,
  optionString,
  pathOf,
  requestContextOf,
  routeLabel,
  type Logger,
} from '@obskit/core';
import { DEFAULT_PATHS, type HealthOptions } from '@obskit/health';
import { Registry, type HttpMetricsOptions } from '@obskit/metrics';
import type { RequestIdOptions } from '@obskit/request-id';
import { getTracingHandle, startTracing, type TracingOptions } from '@obskit/tracing';

export interface ObskitOptions {
  /** Service name for logs, traces and health. */
  service: string;
  version?: string;
  env?: string;
  /** The logger; default `createLogger({ service, version, env })`. */
  logger?: Logger;
  requestId?: RequestIdOptions | false;
  /** Started here unless tracing already runs (start it earlier to trace outgoing `http` too). */
  tracing?: TracingOptions | false;
  metrics?: HttpMetricsOptions | false;
  health?: HealthOptions | false;
  /** One access log line per request. Default true. */
  accessLog?: boolean;
}

export interface ResolvedOptions {
  service: string;
  version: string;
  env: string;
  logger: Logger;
  requestId: RequestIdOptions | false;
  tracing: boolean;
  metrics: HttpMetricsOptions | false;
  health: HealthOptions | false;
  accessLog: boolean;
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
  const version = optionString(
    options.version,
    'obskit.version',
    process.env.npm_package_version || '0.0.0',
  );
  const env = optionString(options.env, 'obskit.env', process.env.NODE_ENV || 'development');
  const logger = options.logger ?? createLogger({ service, version, env });
  const tracingOptions = section(options.tracing, 'obskit.tracing');
  let tracing = false;
  if (tracingOptions !== false) {
    const handle =
      getTracingHandle() ??
      startTracing({
        serviceName: service,
        serviceVersion: version,
        environment: env,
        ...tracingOptions,
      });
    tracing = handle.enabled;
  }
  let health = section(options.health, 'obskit.health');
  let metrics = section(options.metrics, 'obskit.metrics');
  if (metrics !== false && health !== false) {
    // One registry for both, so /metrics also shows health_check_status and _duration_seconds.
    const registry =
      metrics.registry ?? (health.registry as Registry | undefined) ?? new Registry();
    metrics = { ...metrics, registry };
    if (health.registry === undefined) health = { ...health, registry };
  }
  return {
    service,
    version,
    env,
    logger,
    requestId: section(options.requestId, 'obskit.requestId'),
    tracing,
    metrics,
    health:
      health === false
        ? false
        : {
            version,
            logger,
            ...health,
            shutdown:
              health.shutdown === false
                ? false
                : {
                    ...health.shutdown,
                    // Flush pending spans after the other hooks (the database may log spans).
                    onShutdown: [
                      ...[health.shutdown?.onShutdown ?? []].flat(),
                      () => getTracingHandle()?.shutdown(),
                    ],
                  },
          },
    accessLog: optionBoolean(options.accessLog, 'obskit.accessLog', true),
  };
}

/**
 * The one access log line, the same on both frameworks: `request completed` with method, path,
 * route, status, duration, and the request's ids.
 */
export function accessLogLine(
  logger: Logger,
  req: IncomingMessage,
  statusCode: number,
  route: string | undefined,
  durationMs: number,
): void {
  const context = requestContextOf(req);
  // Inside the request's context the logger's mixin adds the ids itself; never write them twice.
  const ids =
    getRequestContext() === context
      ? undefined
      : {
          reqId: context.reqId,
          trace_id: context.traceId,
          span_id: context.spanId,
          trace_flags: context.traceFlags,
        };
  logger.info(
    {
      ...ids,
      method: req.method,
      path: pathOf(req.url),
      route: routeLabel(route),
      statusCode,
      ...(Number.isFinite(durationMs) ? { durationMs: Math.round(durationMs * 100) / 100 } : {}),
    },
    'request completed',
  );
}

/** The paths obskit itself serves (metrics and probes), as configured. */
export function obskitEndpoints(resolved: ResolvedOptions): Set<string> {
  const paths = new Set<string>();
  if (resolved.metrics !== false && resolved.metrics.endpoint !== false) {
    paths.add(resolved.metrics.endpoint?.path ?? '/metrics');
  }
  if (resolved.health !== false) {
    for (const path of Object.values({ ...DEFAULT_PATHS, ...resolved.health.paths }))
      paths.add(path);
  }
  return paths;
}
