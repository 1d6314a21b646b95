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
import { kSeriesMetric, type RenderableMetric, type SeriesMetric } from './series.js';
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

let chain: Promise<unknown> = Promise.resolve();

const isRenderable = (metric: unknown): metric is RenderableMetric =>
  typeof (metric as Partial<RenderableMetric>).render === 'function' &&
  (metric as Partial<RenderableMetric>)[kSeriesMetric] !== undefined;

/**
 * Whether the registry has default labels (`registry.setDefaultLabels`), told by how prom-client
 * itself writes obskit's one-line in-flight gauge. With them, prom-client writes every metric.
 */
async function hasDefaultLabels(registry: Registry, metrics: { name: string }[]): Promise<boolean> {
  const probe = metrics.find(
    (m) => (m as Partial<SeriesMetric>)[kSeriesMetric] !== undefined && !isRenderable(m),
  );
  if (probe === undefined) return true; // cannot tell: let prom-client write everything
  const text = await registry.getSingleMetricAsString(probe.name);
  return text.slice(text.lastIndexOf('\n') + 1).includes('{');
}

/**
 * The registry's text, as `registry.metrics()` gives it: obskit's HTTP series are written by
 * obskit (faster, and giving the event loop a turn every 500 series), every other metric by
 * prom-client (`getSingleMetricAsString`), in registration order.
 */
async function render(registry: Registry, openMetrics: boolean): Promise<string> {
  const metrics = registry.getMetricsAsArray() as unknown as { name: string; type?: string }[];
  if (!metrics.some(isRenderable) || (await hasDefaultLabels(registry, metrics))) {
    return registry.metrics();
  }
  const parts: string[] = [];
  for (const metric of metrics) {
    if (isRenderable(metric)) {
      parts.push(await metric.render(openMetrics));
    } else if (openMetrics && metric.type === 'counter') {
      // As registry.metrics() does for OpenMetrics: the family named without `_total`.
      const name = metric.name;
      metric.name = name.replace(/_total$/, '');
      try {
        parts.push(await registry.getSingleMetricAsString(name));
      } finally {
        metric.name = name;
      }
    } else {
      parts.push(await registry.getSingleMetricAsString(metric.name));
    }
  }
  return openMetrics ? `${parts.join('\n')}\n# EOF\n` : `${parts.join('\n\n')}\n`;
}

/**
 * Renders `registry` in the asked format. prom-client keeps the format on the registry and
 * renames counters while it renders OpenMetrics, so renders are serialised and the registry is
 * put back as it was afterwards.
 */
export function renderMetrics(registry: Registry, openMetrics: boolean): Promise<string> {
  const run = async (): Promise<string> => {
    const previous = registry.contentType;
    const wanted = openMetrics
      ? Registry.OPENMETRICS_CONTENT_TYPE
      : Registry.PROMETHEUS_CONTENT_TYPE;
    if ((previous as string) === wanted) return render(registry, openMetrics);
    const metrics = registry.getMetricsAsArray() as unknown as { name: string }[];
    const names = metrics.map((m) => m.name);
    registry.setContentType(wanted as never);
    try {
      return await render(registry, openMetrics);
    } finally {
      registry.setContentType(previous as never);
      metrics.forEach((m, i) => (m.name = names[i] as string));
    }
  };
  const result = chain.then(run, run);
  chain = result.catch(() => undefined);
  return result;
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
      await new Promise<void>((resolve, reject) => {
        started.once('error', reject);
        started.listen(listen.port, listen.host ?? '0.0.0.0', () => {
          started.off('error', reject);
          resolve();
        });
      });
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
