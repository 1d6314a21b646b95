import { invalidOption, METRIC_CONFLICT, ObskitError } from './errors.js';

// Structural: core depends on no metrics library. What obskit's packages need of a prom-client
// Registry, through its public methods.
export interface RegistryLike {
  getSingleMetric(name: string): unknown;
  registerMetric(metric: never): void;
  metrics(): Promise<string>;
}

/** Whether `value` is a prom-client Registry (or one shaped like it: another copy of prom-client). */
export function isPromRegistry(value: unknown): value is RegistryLike {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as RegistryLike).getSingleMetric === 'function' &&
    typeof (value as RegistryLike).registerMetric === 'function' &&
    typeof (value as RegistryLike).metrics === 'function'
  );
}

/** `value` as a registry, or a coded option error naming `path`. */
export function registryOption<R>(value: R | undefined, path: string): R {
  if (!isPromRegistry(value)) throw invalidOption(path, 'a prom-client Registry', value);
  return value;
}

/**
 * The metric registered as `name` in `registry` when it is of `type` (and passes `ours`, when
 * given: the metric is obskit's own of that kind), else undefined when there is none; another
 * metric of that name is a coded error now, at registration, naming `owner`.
 */
export function existingMetric<T>(
  registry: RegistryLike,
  name: string,
  type: 'counter' | 'gauge' | 'histogram' | 'summary',
  owner: string,
  ours?: (found: T) => boolean,
): T | undefined {
  const found = registry.getSingleMetric(name) as ({ type?: unknown } & T) | undefined;
  if (found === undefined) return undefined;
  if (found.type !== type) {
    const what = typeof found.type === 'string' ? `a ${found.type}` : 'another kind of metric';
    throw new ObskitError(
      METRIC_CONFLICT,
      `metric ${name} is already registered as ${what}, ${owner} needs a ${type}`,
    );
  }
  if (ours !== undefined && !ours(found)) {
    throw new ObskitError(
      METRIC_CONFLICT,
      `metric ${name} is already registered in this registry by something other than ${owner}`,
    );
  }
  return found;
}

/** Bucket upper bounds: a non-empty array of positive finite numbers, sorted and de-duplicated. */
export function bucketsOption(value: unknown, path: string, fallback: readonly number[]): number[] {
  if (value === undefined) return [...fallback];
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    value.some((b) => typeof b !== 'number' || !Number.isFinite(b) || b <= 0)
  ) {
    throw invalidOption(path, 'a non-empty array of positive numbers', value);
  }
  return [...new Set(value as number[])].sort((a, b) => a - b);
}

/** W3C trace flags as the two hex characters of the log vocabulary: `01` sampled, else `00`. */
export function traceFlagsText(flags: number): '01' | '00' {
  return (flags & 1) === 1 ? '01' : '00';
}
