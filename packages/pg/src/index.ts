export { DEFAULT_POOL_BUCKETS, poolMetrics } from './pool.js';
export type { PoolMetricsOptions, PoolStats, PoolTimings } from './pool.js';
export { pgCheck, pgPoolMetrics } from './pg.js';
export type { PgCheckOptions, PgPool, PgPoolMetricsOptions } from './pg.js';
