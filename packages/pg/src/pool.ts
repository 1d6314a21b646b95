import {
  existingMetric,
  guardCallback,
  invalidOption,
  optionObject,
  optionString,
  registryOption,
  type WarnLogger,
} from '@obskit/core/internal';
import { Gauge, Histogram, type Registry } from 'prom-client';

/** What a pool tells about itself, read at scrape time. */
export interface PoolStats {
  /** Connections open, idle and in use. */
  total: number;
  /** Connections open and idle. */
  idle: number;
  /** Callers waiting for a connection. */
  waiting: number;
  /** Most connections the pool opens. */
  max: number;
}

export interface PoolMetricsOptions {
  /** The registry the metrics go to (the app's: `app.metrics.registry`, `o.metrics.registry`). */
  registry: Registry;
  /** The `pool_name` label: which pool, when a service has several. Default `default`. */
  poolName?: string;
  /** Buckets of the wait and create time histograms, in seconds. */
  buckets?: number[];
  /** Where a failing `stats` reader is reported (once, at warn). Default: obskit's own logger. */
  logger?: WarnLogger;
}

/** Timings a driver reports when it has them. */
export interface PoolTimings {
  /**
   * A caller waited `seconds` for a connection; `errorType` when it got none (`timeout` for the
   * pool's `connectionTimeoutMillis`, the error's code otherwise: `ECONNREFUSED`, `3D000`).
   */
  observeWait(seconds: number, errorType?: string): void;
  /** Opening a new connection took `seconds`; `errorType` when it failed. */
  observeCreate(seconds: number, errorType?: string): void;
  /**
   * Stops reading this pool at scrape time (its gauges leave `/metrics`; the histograms keep what
   * they counted); `pgPoolMetrics`' handle also puts the pool's own `connect` and `Client` back.
   * Idempotent.
   */
  close(): void;
}

export const DEFAULT_POOL_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

// The pools of each registry, read by one collector per metric; ESM and CommonJS builds share them.
const kPools = Symbol.for('obskit.pg.pools');

type Readers = Map<string, () => PoolStats | undefined>;
type Collected = { [kPools]?: Readers };

// The metric `name` when this registry has obskit's own, else nothing; another metric of that
// name is a coded error now, at registration.
function existing<T>(registry: Registry, name: string, type: 'gauge' | 'histogram'): T | undefined {
  return existingMetric<T & Collected>(
    registry,
    name,
    type,
    "obskit's pool metrics",
    (found) => type !== 'gauge' || found[kPools] !== undefined,
  );
}

function poolGauge(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  set: (gauge: Gauge<string>, pool: string, stats: PoolStats) => void,
): Readers {
  const found = existing<Gauge<string> & Collected>(registry, name, 'gauge');
  if (found !== undefined) return found[kPools] as Readers;
  const readers: Readers = new Map();
  const gauge = new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [pool, read] of readers) {
        const stats = read();
        if (stats !== undefined) set(this as Gauge<string>, pool, stats);
      }
    },
  }) as Gauge<string> & Collected;
  gauge[kPools] = readers;
  return readers;
}

function finite(n: unknown): number {
  return typeof n === 'number' && Number.isFinite(n) ? n : 0;
}

/**
 * Pool metrics for any driver, named after the OpenTelemetry database client connection
 * conventions and read from `stats` at scrape time: `db_client_connection_count{pool_name,state}`
 * (`idle`, `used`), `db_client_connection_max{pool_name}`,
 * `db_client_connection_pending_requests{pool_name}`; and the histograms
 * `db_client_connection_wait_time_seconds{pool_name}` and
 * `db_client_connection_create_time_seconds{pool_name}` that the returned `observeWait` /
 * `observeCreate` record. Nothing is done per query.
 */
export function poolMetrics(stats: () => PoolStats, options: PoolMetricsOptions): PoolTimings {
  optionObject(options, 'pool');
  const registry = options?.registry;
  registryOption(registry, 'pool.registry');
  if (typeof stats !== 'function') throw invalidOption('pool.stats', 'a function', stats);
  const poolName = optionString(options.poolName, 'pool.poolName', 'default');
  const buckets = options.buckets ?? [...DEFAULT_POOL_BUCKETS];
  if (!Array.isArray(buckets) || buckets.length === 0 || buckets.some((b) => !(b > 0))) {
    throw invalidOption('pool.buckets', 'a non-empty array of positive numbers', buckets);
  }
  const read = guardCallback(stats, 'pool.stats', undefined, options.logger);
  const held: Readers[] = [];
  for (const readers of [
    poolGauge(
      registry,
      'db_client_connection_count',
      'Connections in the pool, by state: idle or used.',
      ['pool_name', 'state'],
      (gauge, pool, s) => {
        const idle = finite(s.idle);
        gauge.set({ pool_name: pool, state: 'idle' }, idle);
        gauge.set({ pool_name: pool, state: 'used' }, Math.max(0, finite(s.total) - idle));
      },
    ),
    poolGauge(
      registry,
      'db_client_connection_max',
      'Most connections the pool opens.',
      ['pool_name'],
      (gauge, pool, s) => gauge.set({ pool_name: pool }, finite(s.max)),
    ),
    poolGauge(
      registry,
      'db_client_connection_pending_requests',
      'Callers waiting for a connection from the pool.',
      ['pool_name'],
      (gauge, pool, s) => gauge.set({ pool_name: pool }, finite(s.waiting)),
    ),
  ]) {
    // A pool registered again under its name replaces the earlier one (an app built anew).
    readers.set(poolName, read);
    held.push(readers);
  }
  const histogram = (name: string, help: string): Histogram<string> =>
    existing<Histogram<string>>(registry, name, 'histogram') ??
    new Histogram({
      name,
      help,
      labelNames: ['pool_name', 'error_type'],
      buckets,
      registers: [registry],
    });
  const waitHistogram = histogram(
    'db_client_connection_wait_time_seconds',
    'Time callers waited for a connection from the pool, in seconds; error_type when they got none.',
  );
  const createHistogram = histogram(
    'db_client_connection_create_time_seconds',
    'Time it took to open a new connection, in seconds; error_type when it failed.',
  );
  const wait = waitHistogram.labels({ pool_name: poolName });
  const create = createHistogram.labels({ pool_name: poolName });
  return {
    observeWait: (seconds, errorType) =>
      errorType === undefined
        ? wait.observe(seconds)
        : waitHistogram.observe({ pool_name: poolName, error_type: errorType }, seconds),
    observeCreate: (seconds, errorType) =>
      errorType === undefined
        ? create.observe(seconds)
        : createHistogram.observe({ pool_name: poolName, error_type: errorType }, seconds),
    close() {
      for (const readers of held.splice(0)) {
        if (readers.get(poolName) === read) readers.delete(poolName);
      }
    },
  };
}
