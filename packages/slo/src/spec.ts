import { parse } from 'yaml';

/** obskit's HTTP duration buckets (`http_request_duration_seconds`), in seconds. */
export const DEFAULT_HTTP_BUCKETS: readonly number[] = Object.freeze([
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** What an SLO measures: answers that are not 5xx, answers under a threshold, jobs that succeed. */
export type SliKind = 'availability' | 'latency' | 'jobs';

/** One service level objective, validated, with its defaults applied. */
export interface Slo {
  /** `[a-z0-9][a-z0-9_-]*`: the `slo` label of every rule and alert. */
  readonly name: string;
  /** The `service` label of the scrape target (the `service` field of the logs). */
  readonly service: string;
  readonly sli: SliKind;
  /** The share of good events to keep over `period`, as a fraction (0.999). */
  readonly objective: number;
  /** The SLO period (the error budget's window), as a Prometheus duration (`30d`). */
  readonly period: string;
  readonly description?: string;
  /** HTTP SLOs: the route templates covered (all routes but `__unmatched__` when absent). */
  readonly routes?: readonly string[];
  /** HTTP SLOs: the methods covered (all when absent). */
  readonly methods?: readonly string[];
  /** Latency SLOs: the threshold in seconds, one of the histogram's buckets. */
  readonly threshold?: number;
  /** Job SLOs: the queues covered (all when absent). */
  readonly queues?: readonly string[];
  /** The runbook the alerts link to. */
  readonly runbook: string;
}

export interface SloFile {
  readonly slos: readonly Slo[];
}

/** An SLO file that cannot be used, with where and why. */
export class SloFileError extends Error {
  readonly code = 'OBSKIT_SLO_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'SloFileError';
  }
}

export const DEFAULT_RUNBOOK =
  'https://github.com/obskit/obskit/blob/main/docs/runbooks/SloErrorBudgetBurn.md';

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const DURATION = /^[1-9][0-9]*[hdw]$/;
const METHOD = /^[A-Z]+$/;

const FILE_KEYS = ['version', 'defaults', 'slos'];
const DEFAULT_KEYS = ['service', 'period', 'buckets', 'runbook'];
const SLO_KEYS = [
  'name',
  'service',
  'sli',
  'objective',
  'period',
  'description',
  'routes',
  'methods',
  'threshold',
  'buckets',
  'queues',
  'runbook',
];

const show = (value: unknown): string => JSON.stringify(value) ?? String(value);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(value: Record<string, unknown>, allowed: string[], where: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) {
      throw new SloFileError(`${where}: unknown key "${key}" (known: ${allowed.join(', ')})`);
    }
  }
}

function text(value: unknown, where: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new SloFileError(`${where} must be a non-empty string, got ${show(value)}`);
  }
  return value;
}

function strings(value: unknown, where: string, rule?: RegExp): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length === 0) {
    throw new SloFileError(`${where} must be a non-empty list of strings, got ${show(value)}`);
  }
  return value.map((item, i) => {
    const s = text(item, `${where}[${i}]`);
    if (rule !== undefined && !rule.test(s)) {
      throw new SloFileError(`${where}[${i}] ${show(s)} does not match ${String(rule)}`);
    }
    return s;
  });
}

function buckets(value: unknown, where: string): number[] | undefined {
  if (value === undefined) return undefined;
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    value.some((b, i) => typeof b !== 'number' || !(b > 0) || (i > 0 && b <= value[i - 1]))
  ) {
    throw new SloFileError(
      `${where} must be the histogram's bucket bounds in seconds, increasing, got ${show(value)}`,
    );
  }
  return value as number[];
}

// 99.9 (a percentage, as SLOs are written) or 0.999; never 100 or more, never 0 or less.
function objective(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value >= 100) {
    throw new SloFileError(
      `${where} must be the percentage of good events, above 0 and below 100 (99.9), got ${show(value)}`,
    );
  }
  const fraction = value >= 1 ? value / 100 : value;
  // Kept to the precision written: 99.9 → 0.999, not 0.9990000000000001.
  return Number(fraction.toPrecision(12));
}

function nearest(threshold: number, bounds: readonly number[]): string {
  const below = bounds.filter((b) => b < threshold).at(-1);
  const above = bounds.find((b) => b > threshold);
  return [below, above]
    .filter((b) => b !== undefined)
    .map(String)
    .join(' or ');
}

/**
 * Validates an SLO file's parsed content (YAML or a plain object) and applies the defaults;
 * throws `SloFileError` naming the first problem.
 */
export function validateSloFile(content: unknown, source = 'the SLO file'): SloFile {
  if (!isObject(content)) throw new SloFileError(`${source}: expected a mapping with "slos"`);
  checkKeys(content, FILE_KEYS, source);
  if (content.version !== undefined && content.version !== 1) {
    throw new SloFileError(`${source}: version must be 1, got ${show(content.version)}`);
  }
  const defaults = content.defaults ?? {};
  if (!isObject(defaults)) throw new SloFileError(`${source}: defaults must be a mapping`);
  checkKeys(defaults, DEFAULT_KEYS, `${source}: defaults`);
  if (!Array.isArray(content.slos) || content.slos.length === 0) {
    throw new SloFileError(`${source}: slos must be a non-empty list`);
  }
  const seen = new Set<string>();
  const slos = content.slos.map((raw: unknown, i: number): Slo => {
    let where = `${source}: slos[${i}]`;
    if (!isObject(raw)) throw new SloFileError(`${where} must be a mapping`);
    const name = text(raw.name, `${where}.name`);
    if (!NAME.test(name)) {
      throw new SloFileError(
        `${where}.name ${show(name)} must be lower case letters, digits, "-" and "_"`,
      );
    }
    where = `${source}: slo "${name}"`;
    checkKeys(raw, SLO_KEYS, where);
    if (seen.has(name)) throw new SloFileError(`${where} is declared twice`);
    seen.add(name);
    const service = text(raw.service ?? defaults.service, `${where}.service`);
    const sli = raw.sli;
    if (sli !== 'availability' && sli !== 'latency' && sli !== 'jobs') {
      throw new SloFileError(
        `${where}.sli must be "availability", "latency" or "jobs", got ${show(sli)}`,
      );
    }
    const period = text(raw.period ?? defaults.period ?? '30d', `${where}.period`);
    if (!DURATION.test(period)) {
      throw new SloFileError(
        `${where}.period must be a duration in h, d or w (30d), got ${show(period)}`,
      );
    }
    const http = sli !== 'jobs';
    for (const key of http ? ['queues'] : ['routes', 'methods', 'threshold', 'buckets']) {
      if (raw[key] !== undefined)
        throw new SloFileError(`${where}.${key} does not apply to a ${sli} SLO`);
    }
    if (sli !== 'latency') {
      for (const key of ['threshold', 'buckets']) {
        if (raw[key] !== undefined) {
          throw new SloFileError(`${where}.${key} applies to latency SLOs only`);
        }
      }
    }
    let threshold: number | undefined;
    if (sli === 'latency') {
      const bounds =
        buckets(raw.buckets, `${where}.buckets`) ??
        buckets(defaults.buckets, `${source}: defaults.buckets`) ??
        DEFAULT_HTTP_BUCKETS;
      if (typeof raw.threshold !== 'number' || !(raw.threshold > 0)) {
        throw new SloFileError(
          `${where}.threshold must be a duration in seconds, one of the buckets (${bounds.join(', ')}), got ${show(raw.threshold)}`,
        );
      }
      threshold = raw.threshold;
      if (!bounds.includes(threshold)) {
        throw new SloFileError(
          `${where}.threshold ${threshold} s is not a bucket of http_request_duration_seconds: the nearest are ${nearest(threshold, bounds)} (buckets: ${bounds.join(', ')})`,
        );
      }
    }
    const description =
      raw.description === undefined ? undefined : text(raw.description, `${where}.description`);
    const routes = strings(raw.routes, `${where}.routes`, /^\S+$/);
    const methods = strings(raw.methods, `${where}.methods`, METHOD);
    const queues = strings(raw.queues, `${where}.queues`);
    const runbook = text(raw.runbook ?? defaults.runbook ?? DEFAULT_RUNBOOK, `${where}.runbook`);
    return {
      name,
      service,
      sli,
      objective: objective(raw.objective, `${where}.objective`),
      period,
      runbook,
      ...(description === undefined ? {} : { description }),
      ...(routes === undefined ? {} : { routes }),
      ...(methods === undefined ? {} : { methods }),
      ...(threshold === undefined ? {} : { threshold }),
      ...(queues === undefined ? {} : { queues }),
    };
  });
  return { slos };
}

/** Parses and validates an SLO file's YAML text. */
export function parseSloFile(yamlText: string, source = 'the SLO file'): SloFile {
  let content: unknown;
  try {
    content = parse(yamlText);
  } catch (error) {
    throw new SloFileError(`${source}: not valid YAML: ${(error as Error).message}`);
  }
  return validateSloFile(content, source);
}
