import { defaultLogger, existingMetric, type WarnLogger } from '@obskit/core/internal';
import { Counter, type Gauge, type Registry } from 'prom-client';
import { getOrCreateGauge } from './registry.js';

/** How long a reading taken at scrape time may take, well below Prometheus' 10 s timeout. */
export const DEFAULT_SCRAPE_READING_TIMEOUT_MS = 1000;

export const SCRAPE_ERRORS = 'obskit_scrape_errors_total';

export interface ScrapeReadingOptions {
  registry: Registry;
  /** What is read (`job_queue`, …): the `source` label. */
  source: string;
  /** Which one (the queue's name): the `name` label. */
  name: string;
  /** The option path named in the warn line (`jobs.queueStats`). */
  path: string;
  timeoutMs?: number;
  logger?: WarnLogger;
}

class ReadingTimeout extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'ReadingTimeout';
  }
}

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/**
 * A reading taken at scrape time (a queue's state from Redis, a pool's counts), under a timeout:
 * it resolves with the reading, or with `undefined` when the reading throws, rejects or does not
 * answer within `timeoutMs`, so that its series are left out and the rest of the scrape answers
 * in time. Each failure is counted in `obskit_scrape_errors_total{source,name,reason}` (`error`
 * or `timeout`); the first is said at `warn`, and so is the first success after failures.
 * Concurrent scrapes share one pending reading.
 */
export function scrapeReading<R>(
  read: () => R | PromiseLike<R>,
  options: ScrapeReadingOptions,
): () => Promise<R | undefined> {
  const { registry, source, name, path } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_SCRAPE_READING_TIMEOUT_MS;
  let failing = false;
  const attempt = async (): Promise<R | undefined> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      const value = await Promise.race([
        Promise.resolve().then(read),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new ReadingTimeout(timeoutMs)), timeoutMs);
          timer.unref();
        }),
      ]);
      if (failing) {
        failing = false;
        (options.logger ?? defaultLogger()).warn(
          { option: path, source, name },
          `${path} (${name}) answers again: its series are back on /metrics`,
        );
      }
      return value;
    } catch (error) {
      const reason = error instanceof ReadingTimeout ? 'timeout' : 'error';
      errorCounter(registry).inc({ source, name, reason });
      if (!failing) {
        failing = true;
        (options.logger ?? defaultLogger()).warn(
          { err: error, option: path, source, name, reason },
          `${path} (${name}) ${reason === 'timeout' ? 'did not answer' : 'failed'}: ${messageOf(error)}; its series are left out of /metrics until it answers (counted in ${SCRAPE_ERRORS}; said once)`,
        );
      }
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  };
  let pending: Promise<R | undefined> | undefined;
  const inFlight = inFlightOf(registry);
  return () => {
    if (pending === undefined) {
      const reading = attempt().finally(() => {
        pending = undefined;
        inFlight.delete(reading);
      });
      pending = reading;
      inFlight.add(reading);
    }
    return pending;
  };
}

// Each registry's readings of this scrape in flight: its error counter waits for them, so that a
// scrape counts its own failures. (The gauges that take readings are registered before the
// counter, and a registry starts every metric's collection in registration order.)
const inFlightByRegistry = new WeakMap<Registry, Set<Promise<unknown>>>();
function inFlightOf(registry: Registry): Set<Promise<unknown>> {
  let set = inFlightByRegistry.get(registry);
  if (set === undefined) inFlightByRegistry.set(registry, (set = new Set()));
  return set;
}

/**
 * Makes `obskit_scrape_errors_total` in `registry` with the two series of one reading at 0, so
 * that `increase()` sees its first failure. Call it after the metrics whose collection takes the
 * readings are registered: the counter then waits for this scrape's readings.
 */
export function registerScrapeErrors(registry: Registry, source: string, name: string): void {
  const errors = errorCounter(registry);
  for (const reason of ['error', 'timeout']) errors.inc({ source, name, reason }, 0);
}

function errorCounter(registry: Registry): Counter<'source' | 'name' | 'reason'> {
  const found = existingMetric<Counter<'source' | 'name' | 'reason'>>(
    registry,
    SCRAPE_ERRORS,
    'counter',
    'scrapeReading',
  );
  return (
    found ??
    new Counter({
      name: SCRAPE_ERRORS,
      help: 'Readings taken at scrape time that failed or timed out, their series left out of that scrape, by source, name and reason.',
      labelNames: ['source', 'name', 'reason'],
      registers: [registry],
      async collect() {
        await Promise.all(inFlightOf(registry));
      },
    })
  );
}

// Gauges read at scrape time, one reader per key (several queues or destinations share a
// registry); kept on the gauge so that two helpers on one registry share it. ESM and CommonJS
// builds alike.
const kReaders = Symbol.for('obskit.metrics.queueReaders');
/** The readers of one gauge, by key: add yours, delete it at close. */
export type GaugeReaders<T> = Map<string, () => Promise<T | undefined>>;
type ReadGauge<T> = Gauge<string> & { [kReaders]?: GaugeReaders<T> };

/**
 * A gauge whose series are set at scrape time from readings (each one a `scrapeReading`): the
 * gauge is reset, every reader is awaited, and `set` writes the series of each reading that
 * answered. A reading that failed (`undefined`) leaves its series out of that scrape.
 */
export function readingGauge<T>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: string[],
  set: (gauge: Gauge<string>, key: string, value: T) => void,
): GaugeReaders<T> {
  const gauge = getOrCreateGauge(registry, {
    name,
    help,
    labelNames,
    async collect(this: Gauge<string>) {
      const readers = (this as ReadGauge<T>)[kReaders];
      if (readers === undefined) return;
      this.reset();
      await Promise.all(
        [...readers].map(async ([key, read]) => {
          const value = await read();
          if (value !== undefined) set(this, key, value);
        }),
      );
    },
  }) as ReadGauge<T>;
  return (gauge[kReaders] ??= new Map());
}
