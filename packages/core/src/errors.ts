/** Every error obskit throws carries a stable `code` starting with `OBSKIT_ERR_`. */
export class ObskitError extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'ObskitError';
    this.code = code;
  }
}

export const INVALID_OPTION = 'OBSKIT_ERR_INVALID_OPTION';
/** A metric name already registered by something else, found at registration. */
export const METRIC_CONFLICT = 'OBSKIT_ERR_METRIC_CONFLICT';

/** Describes a received value for an error message, bounded so a huge input stays readable. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 60)}…` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value);
  }
  if (typeof value === 'symbol') return value.toString();
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return 'an object';
}

/**
 * The error for a bad option: `OBSKIT_ERR_INVALID_OPTION: metrics.prefix must be a string, got 42`.
 */
export function invalidOption(path: string, expected: string, received: unknown): ObskitError {
  return new ObskitError(
    INVALID_OPTION,
    `${path} must be ${expected}, got ${describeValue(received)}`,
  );
}
