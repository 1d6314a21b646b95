import {
  defaultLogger,
  invalidOption,
  optionNumber,
  optionObject,
  optionString,
  pathOf,
  registryOption,
  routeTemplateMatcher,
  type WarnLogger,
} from '@obskit/core/internal';
import { exemplarHistogram, getOrCreateCounter, type ExemplarHistogram } from '@obskit/metrics';
import { context, propagation } from '@opentelemetry/api';
import type { Registry } from 'prom-client';

/** The vitals the intake records: web-vitals' names, their metric, and how a value is scaled. */
export const VITALS = {
  LCP: {
    metric: 'web_vitals_lcp_seconds',
    scale: 1 / 1000,
    max: 600_000,
    help: 'Largest Contentful Paint',
  },
  INP: {
    metric: 'web_vitals_inp_seconds',
    scale: 1 / 1000,
    max: 600_000,
    help: 'Interaction to Next Paint',
  },
  CLS: { metric: 'web_vitals_cls', scale: 1, max: 100, help: 'Cumulative Layout Shift (unitless)' },
  FCP: {
    metric: 'web_vitals_fcp_seconds',
    scale: 1 / 1000,
    max: 600_000,
    help: 'First Contentful Paint',
  },
  TTFB: {
    metric: 'web_vitals_ttfb_seconds',
    scale: 1 / 1000,
    max: 600_000,
    help: 'Time to First Byte',
  },
} as const;
export type VitalName = keyof typeof VITALS;

const RATINGS = new Set(['good', 'needs-improvement', 'poor']);
/** Seconds, around Google's thresholds (LCP 2.5 s / 4 s, INP 200 / 500 ms, FCP 1.8 / 3 s, TTFB 0.8 / 1.8 s). */
export const DEFAULT_SECONDS_BUCKETS: readonly number[] = Object.freeze([
  0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1, 1.8, 2.5, 3, 4, 6, 10, 20,
]);
/** CLS, around its thresholds 0.1 and 0.25. */
export const DEFAULT_CLS_BUCKETS: readonly number[] = Object.freeze([
  0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.4, 0.6, 1,
]);
export const DEFAULT_VITALS_PATH = '/telemetry/vitals';
/** The page label of a page that matches none of the `pages` templates. */
export const OTHER_PAGE = '__other__';

export interface VitalsIntakeOptions {
  /** The registry the histograms go to (the app's: `app.metrics.registry`, `o.metrics.registry`). */
  registry: Registry;
  /** The pages' route templates (`/products/:id`): the `page` label's only values, with `__other__`. */
  pages: readonly string[];
  /** Where the reports are posted. Default `/telemetry/vitals`. */
  path?: string;
  /** Largest report body, in bytes. Default 8 KiB. */
  maxBodyBytes?: number;
  /** Most reports accepted per second, over all clients (a burst of as many). Default 200. */
  maxReportsPerSecond?: number;
  /**
   * Most reports accepted per second from one client address (a burst of as many), so that one
   * client cannot starve every other page's beacons. The address is the framework's: Fastify's
   * `request.ip` and Express's `req.ip`, which trust `X-Forwarded-For` only as their `trustProxy`
   * / `trust proxy` settings say. At most 10,000 addresses are tracked at once. Default 20.
   */
  maxReportsPerClientPerSecond?: number;
  /** Where a rejected report is said (once per reason, at warn). Default: obskit's own logger. */
  logger?: WarnLogger;
}

/** What the adapters answer a report with. */
export interface IntakeResult {
  statusCode: 204 | 400 | 413 | 415 | 429;
  /** Why a report was refused. */
  reason?: RejectReason;
}

export type RejectReason =
  'too_large' | 'unsupported_media_type' | 'invalid' | 'rate_limited' | 'invalid_metric';

export interface VitalsIntake {
  readonly path: string;
  readonly maxBodyBytes: number;
  /**
   * Takes one report: the body as text (what `navigator.sendBeacon` sends) or as parsed JSON,
   * with its `content-type`. Records each valid vital; answers 204, or why not.
   */
  /** `client`: the sender's address, for the per-client limit. */
  accept(body: unknown, contentType: string | undefined, client?: string): IntakeResult;
  /** Counts a body refused before it reached `accept` (too large, wrong type), as `accept` would. */
  reject(reason: RejectReason): IntakeResult;
}

const MAX_CLIENTS = 10_000;

const STATUS: Record<RejectReason, IntakeResult['statusCode']> = {
  too_large: 413,
  unsupported_media_type: 415,
  invalid: 400,
  rate_limited: 429,
  invalid_metric: 400,
};

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const MAX_METRICS_PER_REPORT = 20;

/** The exemplar of a report from its page's `traceparent`, when the page load's trace was kept. */
function exemplarOf(traceparent: unknown): Record<string, string> | undefined {
  if (typeof traceparent !== 'string') return undefined;
  const m = TRACEPARENT.exec(traceparent);
  if (m === null || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return undefined;
  return (parseInt(m[3]!, 16) & 1) === 1 ? { trace_id: m[1]!, span_id: m[2]! } : undefined;
}

/**
 * The intake for the browser's web-vitals reports: validates a report, maps its page to one of the
 * `pages` templates (or `__other__`) and records each vital in `web_vitals_<name>` by `page` and
 * `rating`, with the page load's trace as the exemplar. Everything that can grow is bounded: the
 * body, the metrics per report, the label values, the reports per second.
 */
export function createVitalsIntake(options: VitalsIntakeOptions): VitalsIntake {
  optionObject(options, 'vitals');
  const registry = options?.registry;
  registryOption(registry, 'vitals.registry');
  const pages = options.pages;
  if (
    !Array.isArray(pages) ||
    pages.length > 1000 ||
    pages.some((p) => typeof p !== 'string' || !p.startsWith('/'))
  ) {
    throw invalidOption(
      'vitals.pages',
      'an array of at most 1000 route templates (/products/:id)',
      pages,
    );
  }
  const path = optionString(options.path, 'vitals.path', DEFAULT_VITALS_PATH);
  if (!path.startsWith('/')) throw invalidOption('vitals.path', 'a path starting with /', path);
  const maxBodyBytes = optionNumber(options.maxBodyBytes, 'vitals.maxBodyBytes', 8192, {
    min: 64,
    integer: true,
  });
  const rate = optionNumber(options.maxReportsPerSecond, 'vitals.maxReportsPerSecond', 200, {
    min: 1,
  });
  const perClient = optionNumber(
    options.maxReportsPerClientPerSecond,
    'vitals.maxReportsPerClientPerSecond',
    20,
    { min: 1 },
  );
  const logger = options.logger;
  const said = new Set<RejectReason>();

  const matchers = pages.map((template) => [template, routeTemplateMatcher([template])] as const);
  const pageOf = (page: unknown): string => {
    if (typeof page !== 'string' || page.length > 2048) return OTHER_PAGE;
    const p = pathOf(page);
    for (const [template, matches] of matchers) if (matches(p)) return template;
    return OTHER_PAGE;
  };

  const histograms = new Map<string, ExemplarHistogram>();
  for (const [name, vital] of Object.entries(VITALS)) {
    histograms.set(
      name,
      exemplarHistogram(registry, {
        name: vital.metric,
        help: `${vital.help} of page loads, from the browser, by page and rating.`,
        labelNames: ['page', 'rating'],
        buckets: name === 'CLS' ? DEFAULT_CLS_BUCKETS : DEFAULT_SECONDS_BUCKETS,
      }),
    );
  }
  const rejected = getOrCreateCounter(registry, {
    name: 'web_vitals_rejected_total',
    help: 'Web vitals reports (or single vitals, invalid_metric) refused, by reason.',
    labelNames: ['reason'],
  });

  // Token buckets, one per client address (a bounded table: the least recently seen address goes
  // first) under one over all clients: a flood costs a map lookup and a counter increment per
  // report, no more.
  let tokens = rate;
  let refilled = performance.now();
  const clients = new Map<string, { tokens: number; at: number }>();
  const take = (client: string | undefined): boolean => {
    const now = performance.now();
    if (client !== undefined) {
      let bucket = clients.get(client);
      if (bucket === undefined) {
        if (clients.size >= MAX_CLIENTS) clients.delete(clients.keys().next().value!);
        bucket = { tokens: perClient, at: now };
      } else {
        clients.delete(client);
        bucket.tokens = Math.min(perClient, bucket.tokens + ((now - bucket.at) / 1000) * perClient);
        bucket.at = now;
      }
      clients.set(client, bucket);
      if (bucket.tokens < 1) return false;
      bucket.tokens--;
    }
    tokens = Math.min(rate, tokens + ((now - refilled) / 1000) * rate);
    refilled = now;
    if (tokens < 1) return false;
    tokens--;
    return true;
  };

  const reject = (reason: RejectReason): IntakeResult => {
    rejected.inc({ reason });
    if (!said.has(reason)) {
      said.add(reason);
      (logger ?? defaultLogger()).warn(
        { reason, path },
        `a web vitals report was refused: ${reason} (counted in web_vitals_rejected_total; said once per reason)`,
      );
    }
    return { statusCode: STATUS[reason], reason };
  };

  return {
    path,
    maxBodyBytes,
    reject,
    accept(body, contentType, client) {
      if (!take(client)) return reject('rate_limited');
      const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== '' && type !== 'text/plain' && type !== 'application/json') {
        return reject('unsupported_media_type');
      }
      let data: unknown = body;
      if (typeof body === 'string' || Buffer.isBuffer(body)) {
        const text = String(body);
        if (Buffer.byteLength(text) > maxBodyBytes) return reject('too_large');
        try {
          data = JSON.parse(text);
        } catch {
          return reject('invalid');
        }
      }
      if (data === null || typeof data !== 'object' || Array.isArray(data))
        return reject('invalid');
      const { page, traceparent, metrics } = data as Record<string, unknown>;
      if (
        !Array.isArray(metrics) ||
        metrics.length === 0 ||
        metrics.length > MAX_METRICS_PER_REPORT
      )
        return reject('invalid');
      const label = pageOf(page);
      const exemplar = exemplarOf(traceparent);
      for (const m of metrics as unknown[]) {
        const { name, value, rating } = (m ?? {}) as Record<string, unknown>;
        const vital = typeof name === 'string' ? VITALS[name as VitalName] : undefined;
        if (
          vital === undefined ||
          !Object.hasOwn(VITALS, name as string) ||
          typeof value !== 'number' ||
          !Number.isFinite(value) ||
          value < 0 ||
          value > vital.max ||
          typeof rating !== 'string' ||
          !RATINGS.has(rating)
        ) {
          rejected.inc({ reason: 'invalid_metric' });
          continue;
        }
        histograms.get(name as string)!.observe([label, rating], value * vital.scale, exemplar);
      }
      return { statusCode: 204 };
    },
  };
}

const escapeAttribute = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * `<meta name="traceparent" content="…">` for the page being served, from the active trace (the
 * request's server span): the browser module reads it and sends it with the page's vitals, so a
 * slow LCP's exemplar leads to the backend trace of that page load. Empty when nothing is traced.
 */
export function traceparentMeta(): string {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  const value = carrier.traceparent;
  return value === undefined || !TRACEPARENT.test(value)
    ? ''
    : `<meta name="traceparent" content="${escapeAttribute(value)}">`;
}
