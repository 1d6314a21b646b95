import type { IncomingMessage } from 'node:http';
import {
  guardCallback,
  invalidOption,
  optionFunction,
  optionObject,
  optionString,
  readSingleHeader,
} from '@obskit/core/internal';
import { uuidv7 } from './uuid-v7.js';
import type { RequestIdOptions, RequestIdResolver } from './types.js';

export const DEFAULT_HEADER = 'x-request-id';
export const MAX_REQUEST_ID_LENGTH = 128;

// Letters, digits and `-_.:`: covers UUIDs, ULIDs, hex trace ids and `service:counter` styles,
// and nothing that can break out of a header, a log line or an HTML page.
const allowed = /^[A-Za-z0-9\-_.:]{1,128}$/;

/** The default rule: 1–128 characters of `A–Z a–z 0–9 - _ . :`. */
export function isValidRequestId(value: unknown): value is string {
  return typeof value === 'string' && allowed.test(value);
}

const headerName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Resolves options once; the returned `resolve` is the per-request path. */
export function createRequestIdResolver(options: RequestIdOptions = {}): RequestIdResolver {
  optionObject(options, 'requestId');
  const header = optionString(options.header, 'requestId.header', DEFAULT_HEADER).toLowerCase();
  if (!headerName.test(header)) {
    throw invalidOption('requestId.header', 'a valid HTTP header name', options.header);
  }
  const validate = optionFunction<(id: string) => unknown>(options.validate, 'requestId.validate');
  const generate = optionFunction<() => unknown>(options.generate, 'requestId.generate');
  const trust = options.trustIncoming ?? true;
  if (typeof trust !== 'boolean' && typeof trust !== 'function') {
    throw invalidOption('requestId.trustIncoming', 'a boolean or a function', trust);
  }
  const logger = options.logger;

  let fresh: () => string = uuidv7;
  if (generate !== undefined) {
    // A failing generator never fails the request: UUID v7 instead (reported once).
    const generated = guardCallback(generate, 'requestId.generate', undefined, logger);
    fresh = () => {
      const id = generated();
      return typeof id === 'string' && id.length > 0 ? id : uuidv7();
    };
  }

  let accepts: (id: string) => boolean = (id) => allowed.test(id);
  if (validate !== undefined) {
    const validated = guardCallback(validate, 'requestId.validate', false, logger);
    // A comma is what Node makes of a repeated header: never a single caller's id.
    accepts = (id) => id.length > 0 && !id.includes(',') && validated(id) === true;
  }

  const fromHeader = (req: IncomingMessage): string => {
    // A repeated header reads as absent: a fresh id.
    const incoming = readSingleHeader(req, header);
    return incoming !== undefined && accepts(incoming) ? incoming : fresh();
  };

  let resolve: (req: IncomingMessage) => string;
  if (trust === true) resolve = fromHeader;
  else if (trust === false) resolve = () => fresh();
  else {
    // A throwing trust function means "not trusted" (reported once).
    const trusted = guardCallback(trust, 'requestId.trustIncoming', false, logger);
    resolve = (req) => (trusted(req) === true ? fromHeader(req) : fresh());
  }
  return { header, resolve };
}
