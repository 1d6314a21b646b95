import { existingMetric, METRIC_CONFLICT } from '@obskit/core/internal';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { CounterConfig, GaugeConfig, HistogramConfig } from './types.js';

export { METRIC_CONFLICT };

function existing<T>(
  registry: Registry,
  name: string,
  kind: new (...a: never[]) => T,
): T | undefined {
  const type = kind === Counter ? 'counter' : kind === Gauge ? 'gauge' : 'histogram';
  return existingMetric<T>(registry, name, type, 'this get-or-create call');
}

/** The counter named `config.name` in `registry`, created on first use. Never "already registered". */
export function getOrCreateCounter<L extends string>(
  registry: Registry,
  config: CounterConfig<L>,
): Counter<L> {
  return (existing(registry, config.name, Counter) ??
    new Counter<L>({
      name: config.name,
      help: config.help,
      labelNames: config.labelNames ?? [],
      registers: [registry],
    })) as Counter<L>;
}

/** The gauge named `config.name` in `registry`, created on first use. */
export function getOrCreateGauge<L extends string>(
  registry: Registry,
  config: GaugeConfig<L>,
): Gauge<L> {
  return (existing(registry, config.name, Gauge) ??
    new Gauge<L>({
      name: config.name,
      help: config.help,
      labelNames: config.labelNames ?? [],
      registers: [registry],
      ...(config.collect ? { collect: config.collect } : {}),
    })) as Gauge<L>;
}

/** The histogram named `config.name` in `registry`, created on first use. */
export function getOrCreateHistogram<L extends string>(
  registry: Registry,
  config: HistogramConfig<L>,
): Histogram<L> {
  return (existing(registry, config.name, Histogram) ??
    new Histogram<L>({
      name: config.name,
      help: config.help,
      labelNames: config.labelNames ?? [],
      registers: [registry],
      ...(config.buckets ? { buckets: config.buckets } : {}),
    })) as Histogram<L>;
}

export interface MetricHelpers {
  registry: Registry;
  counter<L extends string>(config: CounterConfig<L>): Counter<L>;
  gauge<L extends string>(config: GaugeConfig<L>): Gauge<L>;
  histogram<L extends string>(config: HistogramConfig<L>): Histogram<L>;
}

/** `registry` plus get-or-create helpers bound to it: what `app.metrics` exposes. */
export function metricHelpers(registry: Registry): MetricHelpers {
  return {
    registry,
    counter: (config) => getOrCreateCounter(registry, config),
    gauge: (config) => getOrCreateGauge(registry, config),
    histogram: (config) => getOrCreateHistogram(registry, config),
  };
}
