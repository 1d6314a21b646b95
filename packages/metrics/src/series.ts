/**
 * The HTTP metrics' storage: one record per label combination with plain counters, and metric
 * objects that give prom-client's registry those values in the shape its own `Counter`,
 * `Histogram` and `Gauge` give (`get()` for `getMetricsAsJSON` and cluster aggregation, both
 * text formats through `registry.metrics()`). Recording a request is one map lookup and a few
 * additions: no label object, hash or sort per request. The choice against prom-client's own
 * metrics, and its figures, are in the metrics README ("Storage").
 */

export interface Exemplar {
  labelSet: Record<string, string>;
  value: number;
  timestamp: number;
}

export interface Series {
  readonly labels: Record<string, string>;
  /** `name="value",…` of `labels`, escaped, made at the first render. */
  labelText: string | undefined;
  count: number;
  sum: number;
  /** Non-cumulative counts per bucket; the last slot is +Inf. */
  readonly buckets: Float64Array;
  readonly exemplars: (Exemplar | undefined)[];
  counterExemplar: Exemplar | undefined;
}

interface PromValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
  exemplar?: Exemplar;
}

interface PromMetricData {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  values: PromValue[];
  aggregator: 'sum';
}

/** Brands obskit's metric objects, whichever build (ESM, CommonJS) made them. */
export const kSeriesMetric = Symbol.for('obskit.metrics.seriesMetric');

/** What prom-client's registry needs of a metric. */
export interface SeriesMetric {
  name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly aggregator: 'sum';
  readonly [kSeriesMetric]: SeriesStore | InFlight;
  get(): Promise<PromMetricData>;
  reset(): void;
}

/**
 * The registry's default labels (`registry.setDefaultLabels`) as prom-client writes them: each
 * `name="escaped value"`, in order.
 */
export type DefaultLabels = readonly (readonly [name: string, text: string])[];

/** A metric whose text obskit writes itself (see `renderSeries`). */
export interface RenderableMetric extends SeriesMetric {
  /**
   * The metric's text in the format asked, with the registry's default labels, as prom-client
   * lays it out; yields now and then.
   */
  render(openMetrics: boolean, defaults: DefaultLabels): Promise<string>;
}

// The default labels a series does not hold itself (prom-client lets the series' own win), as
// text, or '' when there are none.
function defaultsText(defaults: DefaultLabels, own: Record<string, string>): string {
  let text = '';
  for (const [name, pair] of defaults) {
    if (Object.prototype.hasOwnProperty.call(own, name)) continue;
    text += text === '' ? pair : `,${pair}`;
  }
  return text;
}

const join = (a: string, b: string): string => (a === '' ? b : b === '' ? a : `${a},${b}`);

// Series written between two turns of the event loop: a scrape of many series never holds the
// loop for long (about 1 ms per 100 histogram series on Node 24 here, see docs/benchmarks.md).
const SERIES_PER_TURN = 500;
const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// prom-client's escaping: `\` and newlines in HELP; also `"` in label values.
export const escapeHelp = (text: string): string =>
  text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
export const escapeValue = (text: string): string => escapeHelp(text).replace(/"/g, '\\"');

function labelText(s: Series): string {
  if (s.labelText === undefined) {
    let text = '';
    for (const name in s.labels) {
      text += `${text === '' ? '' : ','}${name}="${escapeValue(String(s.labels[name]))}"`;
    }
    s.labelText = text;
  }
  return s.labelText;
}

// prom-client's number format, `Nan` included.
export const num = (n: number): string =>
  Number.isNaN(n) ? 'Nan' : Number.isFinite(n) ? `${n}` : n < 0 ? '-Inf' : '+Inf';

export function exemplarText(e: Exemplar | undefined): string {
  if (e === undefined) return '';
  let labels = '';
  for (const name in e.labelSet) {
    labels += `${labels === '' ? '' : ','}${name}="${escapeValue(String(e.labelSet[name]))}"`;
  }
  return ` # {${labels}} ${num(e.value)} ${e.timestamp}`;
}

/**
 * The series of one label set, found by a key that cannot collide: with only the standard
 * labels `METHOD STATUS route` (method and status hold no space, the route is the rest), with
 * custom labels the JSON of all values in order.
 */
export function seriesKey(
  method: string,
  status: string,
  route: string,
  custom?: readonly string[],
): string {
  return custom === undefined
    ? `${method} ${status} ${route}`
    : JSON.stringify([method, status, route, ...custom]);
}

/** Histogram series (and a counter over the same series), by label key. */
export class SeriesStore {
  readonly series = new Map<string, Series>();
  readonly bounds: readonly number[];

  constructor(bounds: readonly number[]) {
    this.bounds = [...bounds].sort((a, b) => a - b);
  }

  /** Finds or creates the series for `key`; `labels` is only called when it is new. */
  get(key: string, labels: () => Record<string, string>): Series {
    let s = this.series.get(key);
    if (s === undefined) {
      s = {
        labels: labels(),
        labelText: undefined,
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

  /** One observation; `exemplar` (a sampled trace) goes to its bucket and, valued 1, to the counter. */
  observe(s: Series, value: number, exemplar: Record<string, string> | undefined): void {
    s.count++;
    s.sum += value;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    (s.buckets[i] as number)++;
    if (exemplar !== undefined) {
      const timestamp = Date.now() / 1000;
      s.exemplars[i] = { labelSet: exemplar, value, timestamp };
      // A counter's exemplar carries the increment it was recorded with.
      s.counterExemplar = { labelSet: exemplar, value: 1, timestamp };
    }
  }

  reset(): void {
    this.series.clear();
  }

  counter(name: string, help: string): SeriesMetric {
    return new SeriesCounter(name, help, this);
  }

  histogram(name: string, help: string): SeriesMetric {
    return new SeriesHistogram(name, help, this);
  }
}

class SeriesCounter implements RenderableMetric {
  readonly type = 'counter';
  readonly aggregator = 'sum';
  readonly [kSeriesMetric]: SeriesStore;
  constructor(
    public name: string,
    readonly help: string,
    source: SeriesStore,
  ) {
    this[kSeriesMetric] = source;
  }

  // `this.name`: prom-client drops `_total` from counter names while it renders OpenMetrics
  // and adds it back to each sample.
  async get(): Promise<PromMetricData> {
    const values: PromValue[] = [];
    for (const s of this[kSeriesMetric].series.values()) {
      const value: PromValue = { labels: s.labels, value: s.count };
      if (s.counterExemplar !== undefined) value.exemplar = s.counterExemplar;
      values.push(value);
    }
    return { name: this.name, help: this.help, type: 'counter', values, aggregator: 'sum' };
  }

  // OpenMetrics names the family without `_total` and each sample with it, and carries exemplars.
  async render(openMetrics: boolean, defaults: DefaultLabels): Promise<string> {
    const family = openMetrics ? this.name.replace(/_total$/, '') : this.name;
    const sample = openMetrics ? `${family}_total` : family;
    let text = `# HELP ${family} ${escapeHelp(this.help)}\n# TYPE ${family} counter`;
    let n = 0;
    for (const s of this[kSeriesMetric].series.values()) {
      if (++n % SERIES_PER_TURN === 0) await nextTurn();
      // The series' labels, then the defaults it does not hold.
      const labels =
        defaults.length === 0 ? labelText(s) : join(labelText(s), defaultsText(defaults, s.labels));
      text += `\n${sample}${labels === '' ? '' : `{${labels}}`} ${num(s.count)}`;
      if (openMetrics) text += exemplarText(s.counterExemplar);
    }
    return text;
  }

  reset(): void {
    this[kSeriesMetric].reset();
  }
}

class SeriesHistogram implements RenderableMetric {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly [kSeriesMetric]: SeriesStore;
  // `le` as prom-client's Histogram gives it: the bound as a number, then '+Inf'; made once.
  private readonly les: Record<string, string | number>[];
  constructor(
    public name: string,
    readonly help: string,
    source: SeriesStore,
  ) {
    this[kSeriesMetric] = source;
    this.les = [...source.bounds.map((le) => ({ le })), { le: '+Inf' }];
  }

  // For `registry.metrics()`, `getMetricsAsJSON` and cluster aggregation: each bucket with its
  // own `le` first, then the series' labels, as prom-client's Histogram gives them.
  async get(): Promise<PromMetricData> {
    const { name } = this;
    const { bounds, series } = this[kSeriesMetric];
    const { les } = this;
    const values: PromValue[] = [];
    for (const s of series.values()) {
      let cumulative = 0;
      for (let i = 0; i <= bounds.length; i++) {
        cumulative += s.buckets[i] as number;
        const value: PromValue = {
          metricName: `${name}_bucket`,
          labels: { ...les[i], ...s.labels },
          value: cumulative,
        };
        const exemplar = s.exemplars[i];
        if (exemplar !== undefined) value.exemplar = exemplar;
        values.push(value);
      }
      values.push({ metricName: `${name}_sum`, labels: { ...s.labels }, value: s.sum });
      values.push({ metricName: `${name}_count`, labels: { ...s.labels }, value: s.count });
    }
    return { name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
  }

  async render(openMetrics: boolean, defaults: DefaultLabels): Promise<string> {
    const { name } = this;
    const { bounds, series } = this[kSeriesMetric];
    // `le="…"` per bucket, as prom-client writes the bound.
    const les = [...bounds.map((b) => `le="${b}"`), 'le="+Inf"'];
    let text = `# HELP ${name} ${escapeHelp(this.help)}\n# TYPE ${name} histogram`;
    let n = 0;
    for (const s of series.values()) {
      if (++n % SERIES_PER_TURN === 0) await nextTurn();
      // The series' labels, then the defaults it does not hold (after `le` on the buckets).
      const labels =
        defaults.length === 0 ? labelText(s) : join(labelText(s), defaultsText(defaults, s.labels));
      const rest = labels === '' ? '}' : `,${labels}}`;
      let cumulative = 0;
      for (let i = 0; i <= bounds.length; i++) {
        cumulative += s.buckets[i] as number;
        text += `\n${name}_bucket{${les[i]}${rest} ${num(cumulative)}`;
        if (openMetrics) text += exemplarText(s.exemplars[i]);
      }
      const own = labels === '' ? '' : `{${labels}}`;
      text += `\n${name}_sum${own} ${num(s.sum)}\n${name}_count${own} ${num(s.count)}`;
    }
    return text;
  }

  reset(): void {
    this[kSeriesMetric].reset();
  }
}

/** The in-flight count, shared by every recorder on one registry. */
export class InFlight {
  value = 0;

  gauge(name: string, help: string): SeriesMetric {
    return new InFlightGauge(name, help, this);
  }
}

class InFlightGauge implements SeriesMetric {
  readonly type = 'gauge';
  readonly aggregator = 'sum';
  readonly [kSeriesMetric]: InFlight;
  constructor(
    public name: string,
    readonly help: string,
    source: InFlight,
  ) {
    this[kSeriesMetric] = source;
  }

  async get(): Promise<PromMetricData> {
    return {
      name: this.name,
      help: this.help,
      type: 'gauge',
      values: [{ labels: {}, value: this[kSeriesMetric].value }],
      aggregator: 'sum',
    };
  }

  reset(): void {
    this[kSeriesMetric].value = 0;
  }
}
