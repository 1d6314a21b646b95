import type { IncomingMessage, ServerResponse } from 'node:http';
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
    /** `res` is undefined for a request whose client went away before the response. */
    values: (
      req: IncomingMessage,
      res: ServerResponse | undefined,
    ) => Record<string, string | number | undefined>;
  };
  /** Paths not counted. Default: the metrics path and the obskit health paths. */
  excludePaths?: string[];
  /** Count the metrics and health endpoints too. Default false. */
  includeObskitEndpoints?: boolean;
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
