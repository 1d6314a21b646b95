export { getTracingHandle, startTracing } from './setup.js';
export type { TracingHandle, TracingOptions } from './setup.js';
export type { SpanDelivery } from './delivery.js';
export {
  createServerTracing,
  DEFAULT_REDACTED_QUERY_PARAMETERS,
  noteRequestError,
  requestErrorOf,
  runRequestInSpan,
  tracingActive,
} from './server.js';
export type { ServerSpan, ServerTracing, ServerTracingOptions } from './server.js';
export { ignoreRule } from './ignore.js';
export type { IgnoreOptions, IgnoreRule } from './ignore.js';
export { recordError } from './errors.js';
export { SharedContextManager } from './context-manager.js';
export { sanitizeQueryText } from './pg.js';
export type { PgTracingOptions } from './pg.js';
export { sharedContextActive } from './setup.js';
export { injectTraceContext, runWithTraceContext, withSpan } from './jobs.js';
export type { JobErrorInfo, JobSpanOptions, TraceCarrier } from './jobs.js';
