/**
 * The HTTP metrics as obskit keeps them: one record per (method, route, status[, custom labels])
 * with plain counters, exposed to prom-client's registry as metric objects whose `get()` returns
 * the values in prom-client's shape. Recording a request is a map lookup and a few additions —
 * no label objects, hashing or sorting per request — and exemplars are kept per bucket.
 */

export interface Exemplar {
  labelSet: Record<string, string>;
  value: number;
  timestamp: number;
}

interface Series {
  labels: Record<string, string>;
  count: number;
  sum: number;
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  buckets: Float64Array;
  exemplars: (Exemplar | undefined)[];
  counterExemplar: Exemplar | undefined;
}

interface PromValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
  exemplar?: Exemplar;
}

export interface PromMetric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  aggregator: 'sum';
  get(): Promise<{
    name: string;
    help: string;
    type: string;
    values: PromValue[];
    aggregator: 'sum';
  }>;
  reset(): void;
}

/** A histogram (and optionally a counter over the same series) keyed by a label string. */
export class SeriesStore {
  readonly series = new Map<string, Series>();
  private readonly bounds: number[];
  private readonly boundLabels: string[];

  constructor(bounds: number[]) {
    this.bounds = [...bounds].sort((a, b) => a - b);
    this.boundLabels = this.bounds.map(String);
  }

  /** Finds or creates the series for `key`; `labels` is only read when it is new. */
  get(key: string, labels: () => Record<string, string>): Series {
    let s = this.series.get(key);
    if (s === undefined) {
      s = {
        labels: labels(),
        count: 0,
        sum: 0,
        buckets: new Float64Array(this.bounds.length + 1),
        exemplars: [],
        counterExemplar: undefined,
      };
      this.series.set(key, s);
    }
    return s;
  }

  observe(s: Series, value: number, exemplar: Exemplar | undefined): void {
    s.count++;
    s.sum += value;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    (s.buckets[i] as number)++;
    if (exemplar !== undefined) {
      s.exemplars[i] = exemplar;
      s.counterExemplar = exemplar;
    }
  }

  reset(): void {
    this.series.clear();
  }

  counter(name: string, help: string): PromMetric {
    const metric: PromMetric = {
      name,
      help,
      type: 'counter',
      aggregator: 'sum',
      // `metric.name`, not `name`: prom-client drops `_total` from counter names while it renders
      // OpenMetrics and adds it back to each sample.
      get: async () => {
        const values: PromValue[] = [];
        for (const s of this.series.values()) {
          values.push({ labels: s.labels, value: s.count, exemplar: s.counterExemplar });
        }
        return { name: metric.name, help, type: 'counter', values, aggregator: 'sum' };
      },
      reset: () => this.reset(),
    };
    return metric;
  }

  histogram(name: string, help: string): PromMetric {
    return {
      name,
      help,
      type: 'histogram',
      aggregator: 'sum',
      get: async () => {
        const values: PromValue[] = [];
        for (const s of this.series.values()) {
          let cumulative = 0;
          for (let i = 0; i <= this.bounds.length; i++) {
            cumulative += s.buckets[i] as number;
            values.push({
              metricName: `${name}_bucket`,
              labels: {
                ...s.labels,
                le: i < this.bounds.length ? (this.boundLabels[i] as string) : '+Inf',
              },
              value: cumulative,
              exemplar: s.exemplars[i],
            });
          }
          values.push({ metricName: `${name}_sum`, labels: s.labels, value: s.sum });
          values.push({ metricName: `${name}_count`, labels: s.labels, value: s.count });
        }
        return { name, help, type: 'histogram', values, aggregator: 'sum' };
      },
      reset: () => this.reset(),
    };
  }
}

/** A gauge whose value is read from a function at scrape time. */
export function gaugeOf(name: string, help: string, read: () => number): PromMetric {
  return {
    name,
    help,
    type: 'gauge',
    aggregator: 'sum',
    get: async () => ({
      name,
      help,
      type: 'gauge',
      values: [{ labels: {}, value: read() }],
      aggregator: 'sum',
    }),
    reset: () => {},
  };
}
