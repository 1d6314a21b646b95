import type { IncomingHttpHeaders } from 'node:http';

/** Longest header value obskit reads unless told otherwise. */
export const DEFAULT_MAX_HEADER_LENGTH = 1024;

/**
 * Reads one request header safely: the first value when it arrives as an array (Node gives
 * arrays for `set-cookie` and headers it does not join), `undefined` when it is absent or longer
 * than `maxLength`. An over-long value is dropped rather than cut, so a truncated value never
 * passes for a real one. `name` must be lower case, as Node stores header names.
 */
export function readHeader(
  headers: IncomingHttpHeaders,
  name: string,
  maxLength: number = DEFAULT_MAX_HEADER_LENGTH,
): string | undefined {
  const raw = headers[name];
  const value = typeof raw === 'string' ? raw : Array.isArray(raw) ? raw[0] : undefined;
  if (value === undefined || value.length > maxLength) return undefined;
  return value;
}
