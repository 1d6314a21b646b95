import type { Logger } from '@obskit/core/internal';

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy' | 'starting' | 'shutting_down';

export type CheckFn = () => unknown;

export interface CheckDefinition {
  check: CheckFn;
  /** A failing critical check makes the service `unhealthy` (503); others make it `degraded`. Default true. */
  critical?: boolean;
  /** Default: the `timeoutMs` option. */
  timeoutMs?: number;
}

export interface CheckResult {
  status: 'healthy' | 'unhealthy';
  critical: boolean;
  durationMs: number;
  error?: string;
  details?: unknown;
}

export interface HealthBody {
  status: HealthStatus;
  version: string;
  uptimeSeconds: number;
  timestamp: string;
  checks?: Record<string, CheckResult>;
}

export interface HealthResponse {
  statusCode: 200 | 503;
  body: HealthBody;
}

export interface ShutdownOptions {
  /** Signals that start the graceful shutdown. Default `['SIGTERM', 'SIGINT']`; `[]` for none. */
  signals?: NodeJS.Signals[];
  /** Time readiness answers 503 while traffic is still served, so load balancers notice. Default 5000. */
  drainDelayMs?: number;
  /** Past this, obskit logs what is still running and exits 1. Default 25000 (Kubernetes' default grace period is 30 s). */
  timeoutMs?: number;
  /** Hooks run once after the server closed and held work was released (close the database…). */
  onShutdown?: (() => unknown) | (() => unknown)[];
  /**
   * Hooks run as soon as the shutdown starts, before the drain: a worker stops taking new jobs
   * there (the job in hand holds the shutdown with `hold`).
   */
  onShutdownStart?: (() => unknown) | (() => unknown)[];
  /** Exit the process at the end (0, or 1 past the timeout). Default true. */
  exit?: boolean;
}

export interface HealthPaths {
  live?: string;
  ready?: string;
  startup?: string;
  health?: string;
}

export interface HealthOptions {
  /** `version` of the JSON. Default `npm_package_version`, else `0.0.0`. */
  version?: string;
  /** Readiness checks by name. */
  checks?: Record<string, CheckFn | CheckDefinition>;
  /** Default timeout of each check. Default 300 ms, well inside Kubernetes' 1 s probe timeout. */
  timeoutMs?: number;
  /** Reuse a readiness result this long. Default 0 (concurrent probes still share one run). */
  cacheMs?: number;
  /** Run the checks in the background every `intervalMs` and answer from the last result. */
  intervalMs?: number;
  /** Leave the `checks` out of the JSON, for probes on public ports. Default false. */
  hideDetails?: boolean;
  /** A prom-client Registry for `health_check_status` and `health_check_duration_seconds`. */
  registry?: unknown;
  /** Where phases and failures are logged. Default: an obskit logger. */
  logger?: Logger;
  paths?: HealthPaths;
  /** Graceful shutdown settings, or `false` to handle shutdown yourself. */
  shutdown?: ShutdownOptions | false;
}
