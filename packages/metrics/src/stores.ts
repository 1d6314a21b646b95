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
