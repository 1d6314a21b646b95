import type { IncomingMessage, ServerResponse } from 'node:http';
import type { WarnLogger } from '@obskit/core/internal';
import type { Registry } from 'prom-client';

export interface HttpMetricsOptions {
  /** Registry to use. Default: a new one per plugin/middleware. */
  registry?: Registry;
  /** Prefix for every obskit metric name (`myapp_` → `myapp_http_requests_total`). */
  prefix?: string;
  /** Duration buckets in seconds. */
  buckets?: number[];
  /** Request and response size histograms (`http_request_size_bytes`, `http_response_size_bytes`). */
  sizes?: boolean;
  /** Size buckets in bytes. */
  sizeBuckets?: number[];
  /** prom-client's Node.js runtime metrics. Default true. */
  defaultMetrics?: boolean;
  /**
   * Extra labels for the HTTP metrics. Every value multiplies the number of series: use only
   * values from a small fixed set (a tenant tier, never a user id).
   */
  customLabels?: {
    names: string[];
    /**
     * Called when the request is done (`res` unfinished for a client that went away). A
     * function that throws gives empty values (reported once).
     */
    values: (
      req: IncomingMessage,
      res: ServerResponse,
    ) => Record<string, string | number | undefined>;
  };
  /**
   * Route templates whose requests are not counted (`/internal/:job`; `__unmatched__` for
   * requests that matched no route), the same on Fastify and Express.
   */
  excludePaths?: string[];
  /** Requests not counted, decided per request when it is done. A predicate that throws counts the request. */
  exclude?: (req: IncomingMessage) => boolean;
  /** Count obskit's own endpoints (`/metrics`, the probes) too. Default false. */
  includeObskitEndpoints?: boolean;
  /**
   * Where a failing `customLabels.values`, `exclude` or `endpoint.authorize` is reported (once
   * each, at warn). Default: Fastify's logger on Fastify, obskit's own logger elsewhere.
   */
  logger?: WarnLogger;
  /** Exemplars (trace_id, span_id) in OpenMetrics output. Default true. */
  exemplars?: boolean;
  /** The /metrics endpoint; `false` to record only. */
  endpoint?: MetricsEndpointOptions | false;
}

export interface MetricsEndpointOptions {
  /** Default `/metrics`. */
  path?: string;
  /** Require `Authorization: Bearer <token>`. */
  bearerToken?: string;
  /** Decide per request; `false` → 403. Runs after the bearer token check. */
  authorize?: (req: IncomingMessage) => boolean | Promise<boolean>;
  /** Serve /metrics on a separate listener instead of the app's port. */
  listen?: { port: number; host?: string };
  /** Where a failing `authorize` is reported. Default: the metrics' `logger`. */
  logger?: WarnLogger;
}

export interface MetricsResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export interface CounterConfig<L extends string = string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
}
export interface HistogramConfig<L extends string = string> extends CounterConfig<L> {
  buckets?: number[];
}
export type GaugeConfig<L extends string = string> = CounterConfig<L> & {
  collect?: () => void | Promise<void>;
};
