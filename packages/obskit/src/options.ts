import {
  createLogger,
  invalidOption,
  optionBoolean,
  optionObject,
  optionString,
  serviceIdentity,
  type Logger,
} from '@obskit/core/internal';
import type { HealthOptions } from '@obskit/health';
import { Registry, type HttpMetricsOptions } from '@obskit/metrics';
import type { RequestIdOptions } from '@obskit/request-id';
import { getTracingHandle, startTracing, type TracingOptions } from '@obskit/tracing';

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
  /** Started here unless tracing already runs. */
  tracing?: TracingOptions | false;
  metrics?: HttpMetricsOptions | false;
  health?: HealthOptions | false;
  /** One access log line per request. Default true. */
  accessLog?: boolean;
}

/** The umbrella's options resolved once: each feature's own options, ready to pass on. */
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
  const identity = serviceIdentity(
    { service, version: options.version, env: options.env },
    'obskit',
  );
  const logger = options.logger ?? createLogger(identity);
  const tracingOptions = section(options.tracing, 'obskit.tracing');
  let tracing = false;
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
    tracing = handle.enabled;
  }
  const requestId = section(options.requestId, 'obskit.requestId');
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
    ...identity,
    logger,
    requestId: requestId === false ? false : { logger, ...requestId },
    tracing,
    metrics: metrics === false ? false : { logger, ...metrics },
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
