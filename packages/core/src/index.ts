export {
  bindEmitterToContext,
  enableRequestContext,
  getRequestContext,
  requestContextEnabled,
  requestContextStorage,
  runWithRequestContext,
} from './context.js';
export type { RequestContext } from './context.js';
export { peekRequestContext, requestContextOf, runInRequestContext } from './request.js';
export { createLogger, DEFAULT_REDACT_PATHS } from './logger.js';
export type { Logger, LoggerOptions } from './logger.js';
export { logDestination } from './destination.js';
export type { LogDestination, LogDestinationOptions } from './destination.js';
export { onResponseDone, setResponseHeader, statusOfOutcome } from './response.js';
export type { ResponseDoneCallback, ResponseOutcome } from './response.js';
export {
  CLIENT_CLOSED_STATUS,
  isStandardMethod,
  normalizeMethod,
  OTHER_METHOD,
  pathOf,
  routeLabel,
  STANDARD_METHODS,
  statusCodeLabel,
  UNMATCHED_ROUTE,
} from './labels.js';
export { DEFAULT_MAX_HEADER_LENGTH, readHeader, readSingleHeader } from './headers.js';
export { describeValue, INVALID_OPTION, invalidOption, ObskitError } from './errors.js';
export {
  optionBoolean,
  optionFunction,
  optionNumber,
  optionObject,
  optionOneOf,
  optionString,
} from './options.js';
export type { NumberRule } from './options.js';
export { expressRouteTemplate, trackExpressMounts } from './express-route.js';
export {
  EXPRESS_SHAPES_UNIQUE,
  idFollowsContext,
  keepStateOffExpressObjects,
} from './express-state.js';
