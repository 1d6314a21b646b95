export { getTracingHandle, startTracing } from './setup.js';
export type { TracingHandle, TracingOptions } from './setup.js';
export {
  createServerTracing,
  noteRequestError,
  requestErrorOf,
  runRequestInSpan,
  tracingActive,
} from './server.js';
export { SharedContextManager, sharedContextActive } from './context-manager.js';
export type { ServerSpan, ServerTracing } from './server.js';
export { injectTraceContext, runWithTraceContext, withSpan } from './jobs.js';
export type { JobSpanOptions, TraceCarrier } from './jobs.js';
