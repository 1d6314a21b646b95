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

interface WithRawHeaders {
  rawHeaders?: unknown;
  headers: IncomingHttpHeaders;
}

/**
 * Reads a header that must arrive exactly once, from the request's raw header list: its value,
 * or `undefined` when it is absent, repeated or longer than `maxLength`. `name` must be lower
 * case; the raw names are compared without regard to case.
 *
 * Reading `req.headers` makes Node build the whole header object on first use, which a plain
 * GET on Fastify otherwise never does: scanning `rawHeaders` costs a length comparison per
 * header instead. Requests without a raw list (hand-made objects) are read from `headers`, where
 * Node has joined most repeated values with `, ` and kept the others as arrays (read as absent).
 */
export function readSingleHeader(
  req: WithRawHeaders,
  name: string,
  maxLength: number = DEFAULT_MAX_HEADER_LENGTH,
): string | undefined {
  const raw = req.rawHeaders;
  if (!Array.isArray(raw)) {
    const value = req.headers[name];
    if (Array.isArray(value) && value.length !== 1) return undefined;
    return readHeader(req.headers, name, maxLength);
  }
  const length = name.length;
  let found: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const key = raw[i] as string;
    if (key.length !== length || (key !== name && key.toLowerCase() !== name)) continue;
    if (found !== undefined) return undefined;
    found = raw[i + 1] as string;
  }
  if (found === undefined || found.length > maxLength) return undefined;
  return found;
}
