import { errorCodeOf, invalidOption, optionNumber, optionObject } from '@obskit/core/internal';
import { poolMetrics, type PoolMetricsOptions, type PoolTimings } from './pool.js';

/** The part of `pg`'s `Pool` obskit reads and instruments (documented properties and methods). */
export interface PgPool {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
  readonly options?: { max?: number };
  connect(...args: unknown[]): unknown;
  query(...args: unknown[]): unknown;
  Client?: new (...args: unknown[]) => { connect(...args: unknown[]): unknown };
}

export interface PgPoolMetricsOptions extends PoolMetricsOptions {
  /** The pool's size when `pool.options.max` does not tell it. Default: pg's own default, 10. */
  max?: number;
}

const kInstrumented = Symbol.for('obskit.pg.instrumented');
const kOriginals = Symbol.for('obskit.pg.originals');

/**
 * A failed connect's `error_type`: `timeout` for pg-pool's `connectionTimeoutMillis` (an error
 * without a code), else the error's code (`ECONNREFUSED`, SQLSTATE `3D000`) or class.
 */
function connectErrorType(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  if (typeof message === 'string' && /timeout/i.test(message)) return 'timeout';
  return errorCodeOf(error);
}

function timed<R>(
  start: number,
  observe: (seconds: number, errorType?: string) => void,
  result: R,
): R {
  if (result !== null && typeof (result as { then?: unknown }).then === 'function') {
    (result as Promise<unknown>).then(
      () => observe((performance.now() - start) / 1000),
      (error: unknown) => observe((performance.now() - start) / 1000, connectErrorType(error)),
    );
  }
  return result;
}

/**
 * Metrics of a `pg` `Pool` (see `poolMetrics`): connections idle and used, the pool's size and the
 * callers waiting, read at scrape time from `totalCount`, `idleCount` and `waitingCount`; the
 * wait for a connection (each `pool.connect()`, which `pool.query()` goes through too) and the
 * opening of new connections, timed by wrapping this pool's `connect` and its `Client`'s.
 */
export function pgPoolMetrics(pool: PgPool, options: PgPoolMetricsOptions): PoolTimings {
  optionObject(options, 'pool');
  if (
    pool === null ||
    typeof pool !== 'object' ||
    typeof pool.connect !== 'function' ||
    typeof pool.totalCount !== 'number'
  ) {
    throw invalidOption('pool', 'a pg Pool', pool);
  }
  const max = optionNumber(options.max ?? pool.options?.max, 'pool.max', 10, {
    min: 1,
    integer: true,
  });
  const timings = poolMetrics(
    () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max }),
    options,
  );
  const target = pool as PgPool & {
    [kInstrumented]?: PoolTimings;
    [kOriginals]?: {
      connect: PgPool['connect'];
      Client: PgPool['Client'];
      wrapped: PgPool['connect'];
    };
  };
  if (target[kInstrumented] === undefined) {
    target[kInstrumented] = timings;
    const connect = pool.connect;
    const OriginalClient = pool.Client;
    // The current timings of this pool (registered again, the newest registration's).
    const now = (): PoolTimings | undefined => target[kInstrumented];
    pool.connect = function (this: unknown, ...args: unknown[]) {
      const start = performance.now();
      const callback = args[0];
      if (typeof callback === 'function') {
        return connect.call(this, (err: unknown, ...rest: unknown[]) => {
          const seconds = (performance.now() - start) / 1000;
          now()?.observeWait(seconds, err ? connectErrorType(err) : undefined);
          return (callback as (...a: unknown[]) => unknown)(err, ...rest);
        });
      }
      return timed(start, (s, e) => now()?.observeWait(s, e), connect.apply(this, args));
    };
    const Client = pool.Client;
    if (typeof Client === 'function') {
      pool.Client = class extends Client {
        override connect(...args: unknown[]): unknown {
          const start = performance.now();
          const callback = args[0];
          if (typeof callback === 'function') {
            return super.connect((err: unknown, ...rest: unknown[]) => {
              const seconds = (performance.now() - start) / 1000;
              now()?.observeCreate(seconds, err ? connectErrorType(err) : undefined);
              return (callback as (...a: unknown[]) => unknown)(err, ...rest);
            });
          }
          return timed(start, (s, e) => now()?.observeCreate(s, e), super.connect(...args));
        }
      };
    }
    target[kOriginals] = { connect, Client: OriginalClient, wrapped: pool.connect };
  } else {
    target[kInstrumented] = timings;
  }
  return {
    ...timings,
    close() {
      timings.close();
      if (target[kInstrumented] !== timings) return;
      // The newest registration closed: the pool gets its own connect and Client back.
      const originals = target[kOriginals];
      if (originals !== undefined && pool.connect === originals.wrapped) {
        pool.connect = originals.connect;
        if (originals.Client !== undefined) pool.Client = originals.Client;
      }
      target[kInstrumented] = undefined;
      target[kOriginals] = undefined;
    },
  };
}

export interface PgCheckOptions {
  /** A failing check makes the service unhealthy (503). Default true. */
  critical?: boolean;
  /** Default: the health options' `timeoutMs`. */
  timeoutMs?: number;
}

/**
 * A readiness check for a `pg` pool: `SELECT 1` through the pool, under the check's timeout. An
 * exhausted pool keeps the query waiting, so the check times out: readiness tells that the
 * service cannot reach its database in time, whatever the reason.
 */
export function pgCheck(pool: PgPool, options: PgCheckOptions = {}) {
  optionObject(options, 'pgCheck');
  if (pool === null || typeof pool !== 'object' || typeof pool.query !== 'function') {
    throw invalidOption('pgCheck.pool', 'a pg Pool', pool);
  }
  return {
    critical: options.critical ?? true,
    ...(options.timeoutMs === undefined
      ? {}
      : { timeoutMs: optionNumber(options.timeoutMs, 'pgCheck.timeoutMs', 300, { min: 1 }) }),
    check: async (): Promise<{ pool: { total: number; idle: number; waiting: number } }> => {
      await (pool.query('SELECT 1') as Promise<unknown>);
      return { pool: { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount } };
    },
  };
}
