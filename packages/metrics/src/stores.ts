import { METRIC_CONFLICT, ObskitError } from '@obskit/core/internal';
import type { Registry } from 'prom-client';
import { kSeriesMetric, SeriesStore, type SeriesMetric } from './series.js';

export function conflict(name: string, found: unknown): ObskitError {
  const type = (found as { type?: unknown }).type;
  return new ObskitError(
    METRIC_CONFLICT,
    `metric ${name} is already registered in this registry by something other than obskit's HTTP metrics (${typeof type === 'string' ? type : 'unknown type'})`,
  );
}

/**
 * The obskit metric registered as `name`, or the one `create` makes and registers. Two
 * recorders on one registry (two apps, a plugin registered twice) share their series this way,
 * through the registry's own `getSingleMetric`.
 */
export function seriesMetric(
  registry: Registry,
  name: string,
  create: () => SeriesMetric,
): SeriesMetric {
  const found = registry.getSingleMetric(name) as unknown as SeriesMetric | undefined;
  if (found === undefined) {
    const metric = create();
    registry.registerMetric(metric as never);
    return metric;
  }
  if (found[kSeriesMetric] === undefined) throw conflict(name, found);
  return found;
}

export function histogramStore(
  registry: Registry,
  name: string,
  help: string,
  buckets: number[],
  path: string,
): SeriesStore {
  const metric = seriesMetric(registry, name, () => new SeriesStore(buckets).histogram(name, help));
  const store = metric[kSeriesMetric] as SeriesStore;
  if (store.bounds.join() !== buckets.join()) {
    throw new ObskitError(
      METRIC_CONFLICT,
      `${path} must match the buckets of the ${name} already in this registry (${store.bounds.join(', ')}), got ${buckets.join(', ')}`,
    );
  }
  return store;
}

export interface ExemplarHistogram {
  /**
   * One observation for the label values given (in `labelNames` order); `exemplar` (a trace's
   * `{ trace_id, span_id }`) is kept on its bucket and shown in OpenMetrics scrapes.
   */
  observe(values: readonly string[], value: number, exemplar?: Record<string, string>): void;
}

/**
 * A histogram on obskit's series store: exemplars in OpenMetrics scrapes whatever the registry's
 * own format (prom-client's `Histogram` keeps them only on an OpenMetrics registry), and the same
 * text as prom-client's otherwise. Shared by name within a registry, as obskit's HTTP metrics are.
 */
export function exemplarHistogram(
  registry: Registry,
  config: { name: string; help: string; labelNames: readonly string[]; buckets: readonly number[] },
): ExemplarHistogram {
  const store = histogramStore(
    registry,
    config.name,
    config.help,
    [...config.buckets],
    config.name,
  );
  const names = config.labelNames;
  return {
    observe(values, value, exemplar) {
      const key = JSON.stringify(values);
      const series = store.get(key, () =>
        Object.fromEntries(names.map((n, i) => [n, values[i] ?? ''])),
      );
      store.observe(series, value, exemplar);
    },
  };
}

/** One label set of a series metric: recording is a map lookup by a key made once, and additions. */
export interface SeriesRecorder {
  /** A histogram observation (and +1 on the counter over the same series, when there is one). */
  observe(value: number): void;
  /** +1 on a counter-only series. */
  inc(): void;
}

export interface SeriesMetricsConfig {
  name: string;
  help: string;
  /** Histogram buckets; without them the metric is a counter. */
  buckets?: readonly number[];
  /** A counter over the histogram's series (its `_count`, under a name of its own). */
  counter?: { name: string; help: string };
}

/**
 * A histogram (with, optionally, a counter over the same series) or a counter on obskit's series
 * store, shared by name within a registry: `recorder(labels)` once per label set, then each
 * observation is a map lookup and a few additions, no label hashing (the HTTP metrics' storage).
 * Labels left out of `labels` are left out of the series.
 */
export function seriesRecorders(
  registry: Registry,
  config: SeriesMetricsConfig,
): (labels: Record<string, string>) => SeriesRecorder {
  const buckets = config.buckets === undefined ? [] : [...config.buckets];
  let store: SeriesStore;
  if (config.buckets === undefined) {
    const counter = seriesMetric(registry, config.name, () =>
      new SeriesStore(buckets).counter(config.name, config.help),
    );
    if (counter.type !== 'counter') throw conflict(config.name, counter);
    store = counter[kSeriesMetric] as SeriesStore;
  } else {
    store = histogramStore(registry, config.name, config.help, buckets, config.name);
  }
  if (config.counter !== undefined) {
    const { name, help } = config.counter;
    const counter = seriesMetric(registry, name, () => store.counter(name, help));
    if (counter[kSeriesMetric] !== store) {
      throw new ObskitError(
        METRIC_CONFLICT,
        `${name} is registered over other series than ${config.name}'s in this registry`,
      );
    }
  }
  return (labels) => {
    // In name order: the same labels given in another order are the same series.
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
    const own = () => ({ ...labels });
    return {
      observe(value) {
        store.observe(store.get(key, own), value, undefined);
      },
      inc() {
        store.get(key, own).count++;
      },
    };
  };
}
