export { createHealth, DEFAULT_PATHS, DEFAULTS as HEALTH_DEFAULTS, shutdownEnv } from './health.js';
export { drainServer } from './shutdown.js';
export type { ServerCloseHook } from './shutdown.js';
export type { Health } from './health.js';
export { eventLoopDelayCheck, heapUsedCheck, safeError } from './checks.js';
export type {
  CheckDefinition,
  CheckFn,
  CheckResult,
  HealthBody,
  HealthOptions,
  HealthPaths,
  HealthResponse,
  HealthStatus,
  ShutdownOptions,
} from './types.js';
