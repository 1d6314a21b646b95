import { invalidOption } from './errors.js';

/**
 * Small validators for options objects. Each returns the value (or the fallback when the value is
 * undefined) and throws an `OBSKIT_ERR_INVALID_OPTION` error naming the option, what was expected
 * and what was received.
 */

export function optionObject<T extends object>(value: T | undefined, path: string): T | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalidOption(path, 'an object', value);
  }
  return value;
}

export function optionString(value: unknown, path: string, fallback: string): string;
export function optionString(value: unknown, path: string): string | undefined;
export function optionString(value: unknown, path: string, fallback?: string): string | undefined {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length === 0) {
    throw invalidOption(path, 'a non-empty string', value);
  }
  return value;
}

export function optionBoolean(value: unknown, path: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidOption(path, 'a boolean', value);
  return value;
}

export interface NumberRule {
  min?: number;
  max?: number;
  integer?: boolean;
}

export function optionNumber(
  value: unknown,
  path: string,
  fallback: number,
  rule?: NumberRule,
): number;
export function optionNumber(
  value: unknown,
  path: string,
  fallback?: undefined,
  rule?: NumberRule,
): number | undefined;
export function optionNumber(
  value: unknown,
  path: string,
  fallback?: number,
  rule: NumberRule = {},
): number | undefined {
  if (value === undefined) return fallback;
  const { min, max, integer } = rule;
  const kind = integer ? 'an integer' : 'a number';
  const range =
    min !== undefined && max !== undefined
      ? ` from ${min} to ${max}`
      : min !== undefined
        ? min === 0
          ? ' >= 0'
          : ` >= ${min}`
        : max !== undefined
          ? ` <= ${max}`
          : '';
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    (integer === true && !Number.isInteger(value)) ||
    (min !== undefined && value < min) ||
    (max !== undefined && value > max)
  ) {
    throw invalidOption(path, `${kind}${range}`, value);
  }
  return value;
}

// eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
export function optionFunction<F extends Function>(value: unknown, path: string): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw invalidOption(path, 'a function', value);
  return value as F;
}

export function optionOneOf<T extends string>(
  value: unknown,
  path: string,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalidOption(path, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, value);
  }
  return value as T;
}
