import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import {
  guardAsyncCallback,
  invalidOption,
  optionFunction,
  optionNumber,
  optionObject,
  optionString,
  readHeader,
} from '@obskit/core/internal';
import { Registry } from 'prom-client';
import {
  escapeHelp,
  escapeValue,
  exemplarText,
  kSeriesMetric,
  num,
  type DefaultLabels,
  type Exemplar,
  type RenderableMetric,
  type SeriesMetric,
} from './series.js';
import type { MetricsEndpointOptions, MetricsResponse } from './types.js';

export const DEFAULT_METRICS_PATH = '/metrics';
const PROMETHEUS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const OPENMETRICS_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

export interface MetricsEndpoint {
  readonly path: string;
  /** The answer to a scrape: auth, then 0.0.4 or OpenMetrics by `Accept`. */
  handle(req: IncomingMessage): Promise<MetricsResponse>;
  /** Starts the separate listener when `listen` was given; resolves with its server. */
  startListener(): Promise<Server | undefined>;
  close(): Promise<void>;
}

const isRenderable = (metric: unknown): metric is RenderableMetric =>
  typeof (metric as Partial<RenderableMetric>).render === 'function' &&
  (metric as Partial<RenderableMetric>)[kSeriesMetric] !== undefined;

// `name="escaped value"` pairs of a label set as prom-client writes it.
const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/**
 * The registry's default labels (`registry.setDefaultLabels`), read through its public
 * `getSingleMetricAsString`: obskit's in-flight gauge has no labels of its own, so the labels
 * prom-client writes on its line are exactly the defaults.
 */
async function defaultLabels(
  registry: Registry,
  metrics: { name: string }[],
): Promise<DefaultLabels> {
  const gauge = metrics.find(
    (m) => (m as Partial<SeriesMetric>)[kSeriesMetric] !== undefined && !isRenderable(m),
  );
  if (gauge === undefined) return [];
  const text = await registry.getSingleMetricAsString(gauge.name);
  const line = text.slice(text.lastIndexOf('\n') + 1);
  const open = line.indexOf('{');
  if (open === -1) return [];
  const pairs: [string, string][] = [];
  for (const m of line.slice(open + 1, line.lastIndexOf('}')).matchAll(labelPair)) {
    pairs.push([m[1] as string, m[0]]);
  }
  return pairs;
}

interface MetricData {
  name: string;
  help: string;
  type: string;
  values?: {
    metricName?: string;
    labels?: Record<string, string | number>;
    value: number;
    exemplar?: Exemplar | null;
  }[];
}

/**
 * One metric's text from its public `get()`, as prom-client's registry writes it in the format
 * asked (OpenMetrics: counters named without `_total`, each sample with it, and exemplars), with
 * the default labels after the value's own.
 */
function writeMetric(data: MetricData, openMetrics: boolean, defaults: DefaultLabels): string {
  const counter = openMetrics && data.type === 'counter';
  const family = counter ? data.name.replace(/_total$/, '') : data.name;
  let text = `# HELP ${family} ${escapeHelp(data.help)}\n# TYPE ${family} ${data.type}`;
  for (const value of data.values ?? []) {
    const own = value.labels ?? {};
    let labels = '';
    for (const name in own) {
      const v = own[name];
      labels += `${labels === '' ? '' : ','}${name}="${typeof v === 'string' ? escapeValue(v) : String(v)}"`;
    }
    for (const [name, pair] of defaults) {
      if (!Object.prototype.hasOwnProperty.call(own, name))
        labels += labels === '' ? pair : `,${pair}`;
    }
    const sample = counter ? `${value.metricName ?? family}_total` : (value.metricName ?? family);
    text += `\n${sample}${labels === '' ? '' : `{${labels}}`} ${num(value.value)}`;
    if (openMetrics && value.exemplar) text += exemplarText(value.exemplar);
  }
  return text;
}

/**
 * The registry's text in the format asked, through prom-client's public API only and without
 * changing the registry: obskit's HTTP series are written by obskit (faster, and giving the
 * event loop a turn every 500 series); every other metric by prom-client
 * (`getSingleMetricAsString`) when the registry is in the format asked, else from its `get()`;
 * in registration order, with the registry's default labels.
 */
export async function renderMetrics(registry: Registry, openMetrics: boolean): Promise<string> {
  const metrics = registry.getMetricsAsArray() as unknown as { name: string; type?: string }[];
  const native = !openMetrics && registry.contentType === Registry.PROMETHEUS_CONTENT_TYPE;
  if (native && !metrics.some(isRenderable)) return registry.metrics();
  const defaults = await defaultLabels(registry, metrics);
  // All at once, as registry.metrics() reads them: a slow collector does not wait for another.
  const parts = await Promise.all(
    metrics.map(async (metric) => {
      if (isRenderable(metric)) return metric.render(openMetrics, defaults);
      if (native) return registry.getSingleMetricAsString(metric.name);
      const data = await (metric as unknown as { get(): Promise<MetricData> }).get();
      return writeMetric(data, openMetrics, defaults);
    }),
  );
  return openMetrics ? `${parts.join('\n')}\n# EOF\n` : `${parts.join('\n\n')}\n`;
}

function wantsOpenMetrics(req: IncomingMessage): boolean {
  const accept = readHeader(req.headers, 'accept', 4096);
  return accept !== undefined && accept.includes('application/openmetrics-text');
}

const text = (
  statusCode: number,
  body: string,
  extra: Record<string, string> = {},
): MetricsResponse => ({
  statusCode,
  headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...extra },
  body,
});

export function createMetricsEndpoint(
  registry: Registry,
  options: MetricsEndpointOptions = {},
): MetricsEndpoint {
  optionObject(options, 'metrics.endpoint');
  const path = optionString(options.path, 'metrics.endpoint.path', DEFAULT_METRICS_PATH);
  if (!path.startsWith('/'))
    throw invalidOption('metrics.endpoint.path', 'a path starting with "/"', path);
  const token = optionString(options.bearerToken, 'metrics.endpoint.bearerToken');
  const authorize = optionFunction<(req: IncomingMessage) => boolean | Promise<boolean>>(
    options.authorize,
    'metrics.endpoint.authorize',
  );
  const listen = optionObject(options.listen, 'metrics.endpoint.listen');
  if (listen !== undefined) {
    optionNumber(listen.port, 'metrics.endpoint.listen.port', undefined, {
      min: 0,
      max: 65535,
      integer: true,
    });
    if (listen.port === undefined)
      throw invalidOption('metrics.endpoint.listen.port', 'a port number', undefined);
    optionString(listen.host, 'metrics.endpoint.listen.host');
  }
  const expected = token === undefined ? undefined : Buffer.from(`Bearer ${token}`);
  // A throwing or rejecting authorize denies (reported once).
  const authorized =
    authorize === undefined
      ? undefined
      : guardAsyncCallback(authorize, 'metrics.endpoint.authorize', false, options.logger);

  const handle = async (req: IncomingMessage): Promise<MetricsResponse> => {
    if (expected !== undefined) {
      const given = readHeader(req.headers, 'authorization');
      if (given === undefined) {
        return text(401, 'Unauthorized: send Authorization: Bearer <token>\n', {
          'www-authenticate': 'Bearer realm="metrics"',
        });
      }
      const actual = Buffer.from(given);
      if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
        return text(403, 'Forbidden: the bearer token is not valid for /metrics\n');
      }
    }
    if (authorized !== undefined && (await authorized(req)) !== true) {
      return text(403, 'Forbidden: not authorized to read metrics\n');
    }
    const openMetrics = wantsOpenMetrics(req);
    try {
      const body = await renderMetrics(registry, openMetrics);
      return {
        statusCode: 200,
        headers: {
          'content-type': openMetrics ? OPENMETRICS_TYPE : PROMETHEUS_TYPE,
          'cache-control': 'no-store',
        },
        body,
      };
    } catch (error) {
      return text(500, `metrics collection failed: ${(error as Error).message}\n`);
    }
  };

  let server: Server | undefined;
  return {
    path,
    handle,
    async startListener() {
      if (listen === undefined || server !== undefined) return server;
      server = createServer((req, res) => {
        const url = req.url ?? '/';
        const q = url.indexOf('?');
        if (
          (q === -1 ? url : url.slice(0, q)) !== path ||
          (req.method !== 'GET' && req.method !== 'HEAD')
        ) {
          res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not Found\n');
          return;
        }
        void handle(req).then((r) =>
          res.writeHead(r.statusCode, r.headers).end(req.method === 'HEAD' ? undefined : r.body),
        );
      });
      const started = server;
      try {
        await new Promise<void>((resolve, reject) => {
          started.once('error', reject);
          started.listen(listen.port, listen.host ?? '0.0.0.0', () => {
            started.off('error', reject);
            resolve();
          });
        });
      } catch (error) {
        // EADDRINUSE, EACCES: the caller's start fails with it, and a later start tries again.
        server = undefined;
        throw error;
      }
      return server;
    },
    async close() {
      const s = server;
      server = undefined;
      if (s === undefined) return;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
}
