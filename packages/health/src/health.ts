import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import {
  defaultLogger,
  existingMetric,
  invalidOption,
  registryOption,
  optionBoolean,
  optionNumber,
  optionObject,
  serviceIdentity,
  type Logger,
  type PipelineStep,
} from '@obskit/core/internal';
import { runCheck, type ResolvedCheck } from './checks.js';
import { createShutdown, type ServerCloseHook } from './shutdown.js';
import type {
  CheckResult,
  HealthBody,
  HealthOptions,
  HealthResponse,
  HealthStatus,
} from './types.js';

export const DEFAULT_PATHS = Object.freeze({
  live: '/health/live',
  ready: '/health/ready',
  startup: '/health/startup',
  health: '/health',
});

/** The defaults of the options below (the Kubernetes manifests in infra/k8s are checked against them). */
export const DEFAULTS = {
  timeoutMs: 300,
  drainDelayMs: 5000,
  shutdownTimeoutMs: 25_000,
  signals: ['SIGTERM', 'SIGINT'] as NodeJS.Signals[],
};

export interface Health {
  readonly paths: Readonly<Required<NonNullable<HealthOptions['paths']>>>;
  readonly started: boolean;
  readonly shuttingDown: boolean;
  /** 200 while the process answers, also during shutdown. Never runs checks. */
  live(): HealthResponse;
  /** Runs the readiness checks (shared by concurrent callers); 503 when starting or shutting down. */
  ready(): Promise<HealthResponse>;
  /** 503 `starting` until `markStarted()`, then 200. */
  startup(): HealthResponse;
  /** The answer for a probe path, or undefined when `path` is not one. */
  handle(path: string): Promise<HealthResponse> | undefined;
  markStarted(): void;
  /** Keeps the shutdown from finishing until the returned function is called. */
  hold(name: string): () => void;
  onShutdown(hook: () => unknown): void;
  /**
   * A hook run as soon as the shutdown starts (the signal), before the drain: stop taking new
   * work (a worker's queue consumer) there.
   */
  onShutdownStart(hook: () => unknown): void;
  /**
   * Connections that are not HTTP requests (WebSockets), closed when the server starts closing
   * after the drain delay and awaited with it; `pending()` names what is left for the timeout
   * line. `@obskit/websocket` registers its connections here.
   */
  onServerClose(closer: ServerCloseHook): void;
  /** Per request, from the adapters: from the signal on, its response carries `Connection: close`. */
  track(req: IncomingMessage, res: ServerResponse): void;
  /** The same as `track`, as a step of the app's request pipeline (the adapters add it). */
  readonly step: PipelineStep;
  /** Set by adapters: stops accepting connections and resolves when in-flight requests are done. */
  setServerCloser(close: () => Promise<void>): void;
  /** Starts the graceful shutdown (idempotent) and resolves when it has run. */
  shutdown(reason?: string): Promise<void>;
  /**
   * Removes the background interval, and the signal handlers unless a shutdown is running (a
   * second signal then changes nothing; the shutdown removes them when it is done).
   */
  close(): void;
}

type GaugeLike = { set(labels: Record<string, string>, value: number): void };
type HistogramLike = { observe(labels: Record<string, string>, value: number): void };

function existing<T>(registry: PromClient.Registry, name: string, type: 'gauge' | 'histogram') {
  return existingMetric<T>(registry, name, type, 'health');
}

function healthMetrics(
  registry: unknown,
): { status: GaugeLike; duration: HistogramLike } | undefined {
  if (registry === undefined) return undefined;
  registryOption(registry, 'health.registry');
  const require = createRequire(import.meta.url);
  const prom = require('prom-client') as typeof PromClient;
  const reg = registry as PromClient.Registry;
  const status =
    existing<GaugeLike>(reg, 'health_check_status', 'gauge') ??
    new prom.Gauge({
      name: 'health_check_status',
      help: 'Health check result: 1 up, 0 down.',
      labelNames: ['check'],
      registers: [reg],
    });
  const duration =
    existing<HistogramLike>(reg, 'health_check_duration_seconds', 'histogram') ??
    new prom.Histogram({
      name: 'health_check_duration_seconds',
      help: 'Health check duration in seconds.',
      labelNames: ['check'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [reg],
    });
  return { status, duration };
}

function hookList(given: unknown, path: string): (() => unknown)[] {
  if (given === undefined) return [];
  const list = Array.isArray(given) ? given : [given];
  for (const hook of list) {
    if (typeof hook !== 'function') {
      throw invalidOption(path, 'a function or an array of functions', hook);
    }
  }
  return list as (() => unknown)[];
}

/**
 * The shutdown settings a deployment sets in the environment: `OBSKIT_DRAIN_DELAY_MS` and
 * `OBSKIT_SHUTDOWN_TIMEOUT_MS` (whole milliseconds; a bad value is an error naming the variable).
 * Options given in code win over them.
 */
export function shutdownEnv(env: NodeJS.ProcessEnv = process.env): {
  drainDelayMs?: number;
  timeoutMs?: number;
} {
  const read = (name: string, min: number): number | undefined => {
    const text = env[name]?.trim();
    if (text === undefined || text === '') return undefined;
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min) {
      throw invalidOption(name, `a whole number of milliseconds, at least ${min}`, text);
    }
    return value;
  };
  const drainDelayMs = read('OBSKIT_DRAIN_DELAY_MS', 0);
  const timeoutMs = read('OBSKIT_SHUTDOWN_TIMEOUT_MS', 1);
  return {
    ...(drainDelayMs === undefined ? {} : { drainDelayMs }),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  };
}

/** Framework-free probes and graceful shutdown; the Fastify and Express adapters build on it. */
export function createHealth(options: HealthOptions = {}): Health {
  optionObject(options, 'health');
  const { version } = serviceIdentity({ version: options.version }, 'health');
  const defaultTimeout = optionNumber(options.timeoutMs, 'health.timeoutMs', DEFAULTS.timeoutMs, {
    min: 1,
  });
  const cacheMs = optionNumber(options.cacheMs, 'health.cacheMs', 0, { min: 0 });
  const intervalMs = optionNumber(options.intervalMs, 'health.intervalMs', undefined, { min: 1 });
  const hideDetails = optionBoolean(options.hideDetails, 'health.hideDetails', false);
  const log: Logger = options.logger ?? (defaultLogger() as Logger);
  const paths = { ...DEFAULT_PATHS, ...optionObject(options.paths, 'health.paths') };
  for (const [key, value] of Object.entries(paths)) {
    if (typeof value !== 'string' || !value.startsWith('/')) {
      throw invalidOption(`health.paths.${key}`, 'a path starting with "/"', value);
    }
  }
  const checks: ResolvedCheck[] = Object.entries(
    optionObject(options.checks, 'health.checks') ?? {},
  ).map(([name, def]) => {
    const path = `health.checks.${name}`;
    if (typeof def === 'function')
      return { name, check: def, critical: true, timeoutMs: defaultTimeout };
    optionObject(def, path);
    if (typeof def?.check !== 'function')
      throw invalidOption(`${path}.check`, 'a function', def?.check);
    return {
      name,
      check: def.check,
      critical: optionBoolean(def.critical, `${path}.critical`, true),
      timeoutMs: optionNumber(def.timeoutMs, `${path}.timeoutMs`, defaultTimeout, { min: 1 }),
    };
  });
  const metrics = healthMetrics(options.registry);
  const shutdownOptions =
    options.shutdown === false
      ? undefined
      : optionObject(options.shutdown ?? {}, 'health.shutdown');
  // What the code gives, else what the deployment sets (infra/k8s's ConfigMap), else the default.
  const fromEnv = shutdownEnv();
  const drainDelayMs = optionNumber(
    shutdownOptions?.drainDelayMs ?? fromEnv.drainDelayMs,
    'health.shutdown.drainDelayMs',
    DEFAULTS.drainDelayMs,
    { min: 0 },
  );
  const shutdownTimeoutMs = optionNumber(
    shutdownOptions?.timeoutMs ?? fromEnv.timeoutMs,
    'health.shutdown.timeoutMs',
    DEFAULTS.shutdownTimeoutMs,
    { min: 1 },
  );
  const exit = optionBoolean(shutdownOptions?.exit, 'health.shutdown.exit', true);
  const signals =
    shutdownOptions === undefined ? [] : (shutdownOptions.signals ?? DEFAULTS.signals);
  if (!Array.isArray(signals))
    throw invalidOption('health.shutdown.signals', 'an array of signal names', signals);
  const hooks = hookList(shutdownOptions?.onShutdown, 'health.shutdown.onShutdown');

  const startHooks = hookList(shutdownOptions?.onShutdownStart, 'health.shutdown.onShutdownStart');
  const stopping = createShutdown({
    log,
    drainDelayMs,
    timeoutMs: shutdownTimeoutMs,
    exit,
    signals,
    onShutdown: hooks,
    onShutdownStart: startHooks,
  });

  const startedAt = performance.now();
  let started = false;

  const body = (status: HealthStatus, results?: Record<string, CheckResult>): HealthBody => ({
    status,
    version,
    uptimeSeconds: Math.round((performance.now() - startedAt) / 100) / 10,
    timestamp: new Date().toISOString(),
    ...(results !== undefined && !hideDetails ? { checks: results } : {}),
  });
  const answer = (status: HealthStatus, results?: Record<string, CheckResult>): HealthResponse => ({
    statusCode: status === 'healthy' || status === 'degraded' ? 200 : 503,
    body: body(status, results),
  });

  let running: Promise<Record<string, CheckResult>> | undefined;
  let last: { at: number; results: Record<string, CheckResult> } | undefined;
  const runChecks = async (): Promise<Record<string, CheckResult>> => {
    const list = await Promise.all(checks.map((c) => runCheck(c)));
    const results: Record<string, CheckResult> = {};
    list.forEach((r, i) => {
      const name = (checks[i] as ResolvedCheck).name;
      results[name] = r;
      metrics?.status.set({ check: name }, r.status === 'healthy' ? 1 : 0);
      metrics?.duration.observe({ check: name }, r.durationMs / 1000);
      if (r.status !== 'healthy')
        log.warn({ check: name, error: r.error, critical: r.critical }, 'health check failed');
    });
    last = { at: performance.now(), results };
    return results;
  };
  // Single flight: concurrent probes share one run of the checks. The run is forgotten when it
  // settles, whatever happened, so a failure never leaves readiness stuck.
  const runAll = (): Promise<Record<string, CheckResult>> => {
    running ??= runChecks().finally(() => {
      running = undefined;
    });
    return running;
  };
  let interval: NodeJS.Timeout | undefined;
  if (intervalMs !== undefined && checks.length > 0) {
    interval = setInterval(() => {
      runAll().catch((error: unknown) =>
        log.error({ err: error }, 'health: readiness checks failed to run'),
      );
    }, intervalMs);
    interval.unref();
  }

  const ready = async (): Promise<HealthResponse> => {
    if (stopping.shuttingDown) return answer('shutting_down');
    if (!started) return answer('starting');
    let results: Record<string, CheckResult>;
    if (last !== undefined && (interval !== undefined || performance.now() - last.at < cacheMs))
      results = last.results;
    else {
      try {
        results = await runAll();
      } catch (error) {
        log.error({ err: error }, 'health: readiness checks failed to run');
        return answer('unhealthy');
      }
    }
    if (stopping.shuttingDown) return answer('shutting_down');
    let status: HealthStatus = 'healthy';
    for (const r of Object.values(results)) {
      if (r.status === 'unhealthy') {
        if (r.critical) {
          status = 'unhealthy';
          break;
        }
        status = 'degraded';
      }
    }
    return answer(status, results);
  };

  return {
    paths,
    get started() {
      return started;
    },
    get shuttingDown() {
      return stopping.shuttingDown;
    },
    live: () => answer('healthy'),
    ready,
    startup: () => answer(started ? 'healthy' : 'starting'),
    handle(path) {
      if (path === paths.live) return Promise.resolve(answer('healthy'));
      if (path === paths.ready || path === paths.health) return ready();
      if (path === paths.startup) return Promise.resolve(answer(started ? 'healthy' : 'starting'));
      return undefined;
    },
    markStarted() {
      started = true;
    },
    track: stopping.track,
    step: stopping.step,
    hold: stopping.hold,
    onShutdown(hook) {
      if (typeof hook !== 'function') throw invalidOption('health.onShutdown', 'a function', hook);
      stopping.onShutdown(hook);
    },
    onShutdownStart(hook) {
      if (typeof hook !== 'function') {
        throw invalidOption('health.onShutdownStart', 'a function', hook);
      }
      stopping.onShutdownStart(hook);
    },
    onServerClose(closer) {
      if (closer === null || typeof closer !== 'object' || typeof closer.close !== 'function') {
        throw invalidOption('health.onServerClose', 'an object with close()', closer);
      }
      stopping.onServerClose(closer);
    },
    setServerCloser: stopping.setServerCloser,
    shutdown: stopping.shutdown,
    close() {
      stopping.close();
      if (interval !== undefined) clearInterval(interval);
    },
  };
}
