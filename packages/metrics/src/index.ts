export { createHttpMetrics, DEFAULT_DURATION_BUCKETS, DEFAULT_SIZE_BUCKETS } from './http.js';
export type { HttpMetrics } from './http.js';
export { createMetricsEndpoint, DEFAULT_METRICS_PATH, renderMetrics } from './endpoint.js';
export type { MetricsEndpoint } from './endpoint.js';
export { clusterMetrics, serveClusterMetrics, shareClusterMetrics } from './cluster.js';
export type {
  ClusterMetrics,
  ClusterMetricsOptions,
  ClusterMetricsServerOptions,
  SharedClusterMetrics,
} from './cluster.js';
export { exemplarHistogram, seriesRecorders } from './stores.js';
export type { ExemplarHistogram, SeriesMetricsConfig, SeriesRecorder } from './stores.js';
export { createJobMetrics, DEFAULT_JOB_BUCKETS, QUEUE_STATES } from './jobs.js';
export type {
  JobMetrics,
  JobMetricsOptions,
  JobStatus,
  JobStep,
  JobTimer,
  QueueStats,
} from './jobs.js';
export {
  getOrCreateCounter,
  getOrCreateGauge,
  getOrCreateHistogram,
  METRIC_CONFLICT,
  metricHelpers,
} from './registry.js';
export type { MetricHelpers } from './registry.js';
export type {
  CounterConfig,
  GaugeConfig,
  HistogramConfig,
  HttpMetricsOptions,
  MetricsEndpointOptions,
  MetricsResponse,
} from './types.js';
export { Registry } from 'prom-client';
export {
  DEFAULT_SCRAPE_READING_TIMEOUT_MS,
  readingGauge,
  registerScrapeErrors,
  SCRAPE_ERRORS,
  scrapeReading,
} from './scrape-reading.js';
export type { GaugeReaders, ScrapeReadingOptions } from './scrape-reading.js';
