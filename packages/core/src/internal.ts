// Helpers shared by obskit's own packages. Not a public API: anything here may change in any
// release. Applications use `@obskit/core`.
export {
  bindEmitterToContext,
  getRequestContext,
  requestContextStorage,
  runWithRequestContext,
} from './context.js';
export type { RequestContext } from './context.js';
export { kContext, peekRequestContext, requestContextOf, runInRequestContext } from './request.js';
export type { RequestRecord, ResponseEnder, ResponseOutcome } from './request.js';
export { onResponseDone, responseUpgraded, statusOfOutcome, whenResponseDone } from './response.js';
export type { ResponseDoneCallback } from './response.js';
export { recordedRoute, RequestPipeline, STEP } from './pipeline.js';
export type { EnterRequest, PipelineAdapter, PipelineStep } from './pipeline.js';
export {
  addExpressEndpoint,
  beginRejectedRequest,
  expressMiddleware,
  expressPipeline,
  fastifyPipeline,
} from './app-pipeline.js';
export type {
  ExpressFeature,
  ExpressPipeline,
  ExpressStep,
  FastifyPipeline,
} from './app-pipeline.js';
export { childLoggerFactory, createLogger, markBindsRequestId, requestLogger } from './logger.js';
export type { Logger, LoggerOptions } from './logger.js';
export { applicationPackage, resourceAttributesFromEnv, serviceIdentity } from './identity.js';
export type { ServiceIdentity, ServiceIdentityOptions } from './identity.js';
export { defaultLogger, failureReporter, guardAsyncCallback, guardCallback } from './guard.js';
export type { WarnLogger } from './guard.js';
export {
  CLIENT_CLOSED_STATUS,
  errorCodeOf,
  errorTypeOf,
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
export {
  describeValue,
  INVALID_OPTION,
  METRIC_CONFLICT,
  invalidOption,
  ObskitError,
} from './errors.js';
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
export { HTTP_CLIENT_CREATED, watchHttpAnnouncements } from './channels.js';
export { addOutgoingInjector, INJECT, UNDICI_REQUEST_CREATE } from './outgoing.js';
export type { OutgoingCall, OutgoingInjector, UndiciRequest } from './outgoing.js';
export { routeTemplateMatcher } from './route-match.js';
export { noteRequestError, requestErrorOf } from './request-error.js';
export { droppedLogLines, flushLogDestinations, logDestination } from './destination.js';
export {
  bucketsOption,
  existingMetric,
  isPromRegistry,
  registryOption,
  traceFlagsText,
} from './registry.js';
export type { RegistryLike } from './registry.js';
