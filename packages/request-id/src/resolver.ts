import type { IncomingMessage } from 'node:http';
import {
  invalidOption,
  optionFunction,
  optionObject,
  optionString,
  readSingleHeader,
} from '@obskit/core';
import { uuidV7 as uuidv7 } from './uuid-v7.js';
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
  const validate = optionFunction<(id: string) => boolean>(options.validate, 'requestId.validate');
  const generate = optionFunction<() => string>(options.generate, 'requestId.generate');
  const trust = options.trustIncoming ?? true;
  if (typeof trust !== 'boolean' && typeof trust !== 'function') {
    throw invalidOption('requestId.trustIncoming', 'a boolean or a function', trust);
  }

  const fresh: () => string =
    generate === undefined
      ? uuidv7
      : () => {
          try {
            const id = generate();
            if (typeof id === 'string' && id.length > 0) return id;
          } catch {
            // A failing generator never fails the request: fall back to UUID v7.
          }
          return uuidv7();
        };

  const accepts: (id: string) => boolean =
    validate === undefined
      ? (id) => allowed.test(id)
      : (id) => {
          if (id.length === 0 || id.includes(',')) return false;
          try {
            return validate(id) === true;
          } catch {
            return false;
          }
        };

  const fromHeader = (req: IncomingMessage): string => {
    // A repeated header (which Node would join as `a, b`) reads as absent: a fresh id.
    const incoming = readSingleHeader(req, header);
    return incoming !== undefined && accepts(incoming) ? incoming : fresh();
  };

  let resolve: (req: IncomingMessage) => string;
  if (trust === true) resolve = fromHeader;
  else if (trust === false) resolve = () => fresh();
  else {
    resolve = (req) => {
      let trusted = false;
      try {
        trusted = trust(req) === true;
      } catch {
        trusted = false;
      }
      return trusted ? fromHeader(req) : fresh();
    };
  }
  return { header, resolve };
}
