import cluster from 'node:cluster';
import { createServer, type Server } from 'node:http';
import { invalidOption, optionNumber, optionObject, optionString } from '@obskit/core/internal';
import {
  AggregatorRegistry,
  type MetricObjectWithValues,
  type MetricValue,
  type Registry,
} from 'prom-client';

const REQUEST = 'obskit:cluster-metrics:request';
const RESPONSE = 'obskit:cluster-metrics:response';

interface Request {
  type: typeof REQUEST;
  id: number;
}
interface Response {
  type: typeof RESPONSE;
  id: number;
  metrics?: MetricObjectWithValues<MetricValue<string>>[];
  error?: string;
}

export interface SharedClusterMetrics {
  /** Stops answering the primary: the `message` listener is removed. Safe to call twice. */
  close(): void;
}

const shared = new WeakMap<Registry, SharedClusterMetrics>();

/**
 * In a `node:cluster` worker: answers the primary's requests for this worker's metrics (see
 * `clusterMetrics`). Call it with the app's registry (`app.metrics.registry`,
 * `o.metrics.registry`); a second call with the same registry returns the same handle and adds
 * no listener. Outside a worker it does nothing.
 */
export function shareClusterMetrics(registry: Registry): SharedClusterMetrics {
  if (registry === null || typeof registry !== 'object' || !('getMetricsAsJSON' in registry)) {
    throw invalidOption('cluster.registry', 'a prom-client Registry', registry);
  }
  const existing = shared.get(registry);
  if (existing !== undefined) return existing;
  if (!cluster.isWorker) return { close() {} };
  const onMessage = (message: Request) => {
    if (message?.type !== REQUEST) return;
    registry.getMetricsAsJSON().then(
      (metrics) => process.send?.({ type: RESPONSE, id: message.id, metrics }),
      (error: Error) => process.send?.({ type: RESPONSE, id: message.id, error: error.message }),
    );
  };
  process.on('message', onMessage);
  const handle: SharedClusterMetrics = {
    close() {
      process.off('message', onMessage);
      shared.delete(registry);
    },
  };
  shared.set(registry, handle);
  return handle;
}

const WORKERS_HELP =
  '# HELP obskit_cluster_workers Live cluster workers asked for their metrics at this scrape.\n# TYPE obskit_cluster_workers gauge\n';
const MISSING_HELP =
  '# HELP obskit_cluster_workers_missing Workers left out of this scrape: they did not answer in time.\n# TYPE obskit_cluster_workers_missing gauge\n';

export interface ClusterMetrics {
  /** Every live worker's metrics in one text: counters and histograms summed, gauges by `worker`. */
  metrics(): Promise<string>;
  readonly contentType: string;
  /**
   * Stops waiting: the answers still awaited are given up (their listeners and timers removed,
   * the scrapes in progress reject), and `metrics()` rejects from then on.
   */
  close(): void;
}

export interface ClusterMetricsOptions {
  /** How long to wait for a worker's answer. Default 5000 ms. */
  timeoutMs?: number;
}

/**
 * In the primary: asks each live worker for its metrics over IPC and merges them with
 * prom-client's `AggregatorRegistry.aggregate`: counters and histograms are summed over the
 * workers; gauges (in-flight requests, memory, event-loop lag) keep one series per worker, with a
 * `worker` label (the cluster worker id), since their sum rarely means anything. A worker that
 * does not answer within `timeoutMs` (being replaced, its event loop blocked) is left out of that
 * scrape and counted in `obskit_cluster_workers_missing`, beside `obskit_cluster_workers` (the
 * live workers asked): the scrape answers with the workers that did. It fails only when none did.
 */
export function clusterMetrics(options: ClusterMetricsOptions = {}): ClusterMetrics {
  optionObject(options, 'cluster');
  const timeoutMs = optionNumber(options.timeoutMs, 'cluster.timeoutMs', 5000, { min: 1 });
  let next = 0;
  let closed = false;
  // Every answer awaited: its give-up function, for close().
  const pending = new Set<() => void>();
  const ask = (worker: NonNullable<typeof cluster.workers>[string]) =>
    new Promise<MetricObjectWithValues<MetricValue<string>>[]>((resolve, reject) => {
      if (worker === undefined) return resolve([]);
      const id = ++next;
      const settle = () => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        pending.delete(giveUp);
      };
      const giveUp = () => {
        settle();
        reject(new Error('cluster metrics closed'));
      };
      const timer = setTimeout(() => {
        settle();
        reject(new Error(`worker ${worker.id} did not send its metrics within ${timeoutMs} ms`));
      }, timeoutMs);
      const onMessage = (message: Response) => {
        if (message?.type !== RESPONSE || message.id !== id) return;
        settle();
        if (message.error !== undefined) reject(new Error(`worker ${worker.id}: ${message.error}`));
        else resolve(message.metrics ?? []);
      };
      pending.add(giveUp);
      worker.on('message', onMessage);
      worker.send({ type: REQUEST, id } satisfies Request);
    });
  return {
    contentType: AggregatorRegistry.PROMETHEUS_CONTENT_TYPE,
    close() {
      closed = true;
      for (const giveUp of [...pending]) giveUp();
    },
    async metrics() {
      if (closed) throw new Error('cluster metrics closed');
      const workers = Object.values(cluster.workers ?? {}).filter(
        (w) => w !== undefined && w.isConnected(),
      );
      const settled = await Promise.allSettled(
        workers.map(async (worker) => {
          const metrics = await ask(worker);
          for (const metric of metrics) {
            if ((metric.type as unknown) !== 'gauge') continue;
            // A series per worker: distinct labels are never summed together.
            metric.values = metric.values.map((v) => ({
              ...v,
              labels: { ...v.labels, worker: String(worker!.id) },
            }));
          }
          return metrics;
        }),
      );
      const perWorker = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const missing = settled.length - perWorker.length;
      if (workers.length > 0 && perWorker.length === 0) {
        throw (settled[0] as PromiseRejectedResult).reason;
      }
      const text = await AggregatorRegistry.aggregate(perWorker).metrics();
      return `${text}${text.endsWith('\n') ? '' : '\n'}${WORKERS_HELP}obskit_cluster_workers ${workers.length}\n${MISSING_HELP}obskit_cluster_workers_missing ${missing}\n`;
    },
  };
}

export interface ClusterMetricsServerOptions extends ClusterMetricsOptions {
  port: number;
  /** Default `0.0.0.0`, for Prometheus to reach it. */
  host?: string;
  /** Default `/metrics`. */
  path?: string;
}

/**
 * In the primary: serves the cluster's merged metrics on their own port (the workers share the
 * app's port, so a scrape there would reach one worker only). Resolves once listening;
 * `server.close()` also gives up the answers still awaited.
 */
export async function serveClusterMetrics(options: ClusterMetricsServerOptions): Promise<Server> {
  optionObject(options, 'cluster');
  const port = optionNumber(options?.port, 'cluster.port', 0, { min: 0, integer: true });
  const host = optionString(options.host, 'cluster.host', '0.0.0.0');
  const path = optionString(options.path, 'cluster.path', '/metrics');
  const merged = clusterMetrics(options);
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== path) {
      res.writeHead(404).end();
      return;
    }
    merged.metrics().then(
      (body) => res.writeHead(200, { 'content-type': merged.contentType }).end(body),
      (error: Error) =>
        res
          .writeHead(503, { 'content-type': 'text/plain; charset=utf-8' })
          .end(`cluster metrics unavailable: ${error.message}\n`),
    );
  });
  server.once('close', () => merged.close());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
