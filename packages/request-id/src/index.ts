export {
  createRequestIdResolver,
  DEFAULT_HEADER,
  isValidRequestId,
  MAX_REQUEST_ID_LENGTH,
} from './resolver.js';
export { propagateRequestId, requestIdHeaders } from './propagation.js';
export type { PropagationOptions, RequestIdOptions, RequestIdResolver } from './types.js';
