// The public API of @obskit/core: what applications use. Helpers for obskit's own packages are on
// `@obskit/core/internal`, which is no semver promise.
export { getRequestContext, runWithRequestContext } from './context.js';
export type { RequestContext } from './context.js';
export { createLogger, DEFAULT_REDACT_PATHS } from './logger.js';
export type { Logger, LoggerOptions } from './logger.js';
export { logDestination } from './destination.js';
export type { LogDestination, LogDestinationOptions } from './destination.js';
export { serviceIdentity } from './identity.js';
export type { ServiceIdentity, ServiceIdentityOptions } from './identity.js';
export {
  CLIENT_CLOSED_STATUS,
  normalizeMethod,
  OTHER_METHOD,
  routeLabel,
  STANDARD_METHODS,
  statusCodeLabel,
  UNMATCHED_ROUTE,
} from './labels.js';
export { INVALID_OPTION, METRIC_CONFLICT, ObskitError } from './errors.js';
