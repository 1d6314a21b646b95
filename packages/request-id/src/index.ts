export {
  createRequestIdResolver,
  DEFAULT_HEADER,
  isValidRequestId,
  MAX_REQUEST_ID_LENGTH,
} from './resolver.js';
export { createRequestIds } from './request-ids.js';
export type { RequestIds } from './request-ids.js';
export { createPropagation, propagateRequestId, requestIdHeaders } from './propagation.js';
export type { Propagation } from './propagation.js';
export type { PropagationOptions, RequestIdOptions, RequestIdResolver } from './types.js';
