import { stringify } from 'yaml';
import type { Slo, SloFile } from './spec.js';

/** The windows every SLO's error ratio is recorded over (and its period, for the budget). */
export const WINDOWS = ['5m', '30m', '1h', '2h', '6h', '1d', '3d'] as const;

/**
 * The multiwindow, multi-burn-rate alerts of the SRE Workbook ("Alerting on SLOs", table 5-8):
 * each fires while the error ratio over both its long and its short window is above `burn`
 * times the error budget. `share` is the part of the period's budget spent in `long` at that
 * burn: the burn rate is `share × period / long` (14.4, 6, 3 and 1 for a 30-day period).
 */
export const BURN_ALERTS = [
  { long: '1h', short: '5m', share: 0.02, for: '2m', severity: 'critical' },
  { long: '6h', short: '30m', share: 0.05, for: '15m', severity: 'critical' },
  { long: '1d', short: '2h', share: 0.1, for: '1h', severity: 'warning' },
  { long: '3d', short: '6h', share: 0.1, for: '3h', severity: 'warning' },
] as const;

/** The alert every SLO's burn-rate rules raise (labels `slo`, `service`, `severity`, `window`). */
export const ALERT_NAME = 'SloErrorBudgetBurn';

export const RECORD = {
  /** `slo:sli_error:ratio_rate<window>`: the share of bad events over the window. */
  errorRatio: (window: string) => `slo:sli_error:ratio_rate${window}`,
  /** The objective, as a fraction (0.999). */
  objective: 'slo:objective:ratio',
  /** The part of the period's error budget left (1 = untouched, 0 = spent, below 0 = overspent). */
  budgetRemaining: 'slo:error_budget_remaining:ratio',
} as const;

const HOURS: Record<string, number> = { h: 1, d: 24, w: 168 };

/** A duration (`30m`, `6h`, `30d`, `4w`) in hours. */
export function hoursOf(duration: string): number {
  const unit = duration.slice(-1);
  const n = Number(duration.slice(0, -1));
  if (unit === 'm') return n / 60;
  return n * HOURS[unit]!;
}

/** The burn rate of a `BURN_ALERTS` row for an SLO period. */
export function burnRate(alert: (typeof BURN_ALERTS)[number], period: string): number {
  return round((alert.share * hoursOf(period)) / hoursOf(alert.long));
}

const round = (n: number): number => Number(n.toPrecision(10));

/** The error budget of an SLO, as a fraction (0.001 for 99.9 %). */
export const budgetOf = (slo: Slo): number => round(1 - slo.objective);

// A label value inside a PromQL double-quoted string.
const quote = (value: string): string => JSON.stringify(value);
// A regular expression (RE2, anchored by PromQL) that matches exactly these values.
const escapeRe = (value: string): string => value.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
const oneOf = (values: readonly string[]): string => quote(values.map(escapeRe).join('|'));

// `le` as prom-client writes it ("0.5", "1") and as Prometheus 3 normalises it ("1.0").
function leMatcher(threshold: number): string {
  const text = String(threshold);
  return Number.isInteger(threshold)
    ? `le=~${quote(`${escapeRe(text)}(\\.0)?`)}`
    : `le=${quote(text)}`;
}

function selector(slo: Slo): string[] {
  const matchers = [`service=${quote(slo.service)}`];
  if (slo.sli === 'jobs') {
    if (slo.queues) matchers.push(`queue=~${oneOf(slo.queues)}`);
    return matchers;
  }
  matchers.push(slo.routes ? `route=~${oneOf(slo.routes)}` : 'route!="__unmatched__"');
  if (slo.methods) matchers.push(`method=~${oneOf(slo.methods)}`);
  return matchers;
}

const series = (metric: string, matchers: string[]): string => `${metric}{${matchers.join(', ')}}`;

/** The error ratio of an SLO over `window`, from obskit's own counters and buckets. */
export function errorRatioExpr(slo: Slo, window: string): string {
  const m = selector(slo);
  const sum = (metric: string, extra: string[] = []) =>
    `sum(rate(${series(metric, [...m, ...extra])}[${window}]))`;
  switch (slo.sli) {
    case 'availability':
      return `(${sum('http_requests_total', ['status_code=~"5.."'])} or vector(0))\n/\n${sum('http_requests_total')}`;
    case 'latency':
      return `1 - (\n  ${sum('http_request_duration_seconds_bucket', [leMatcher(slo.threshold!)])}\n  /\n  ${sum('http_request_duration_seconds_count')}\n)`;
    case 'jobs':
      return `(${sum('jobs_total', ['status="failure"'])} or vector(0))\n/\n${sum('jobs_total')}`;
  }
}

const percent = (fraction: number): string => `${round(fraction * 100)}%`;

function goodEvents(slo: Slo): string {
  const routes = slo.routes ? ` on ${slo.routes.join(', ')}` : '';
  const methods = slo.methods ? ` (${slo.methods.join(', ')})` : '';
  switch (slo.sli) {
    case 'availability':
      return `requests${routes}${methods} answered without a 5xx`;
    case 'latency':
      return `requests${routes}${methods} answered within ${slo.threshold} s`;
    case 'jobs':
      return `job attempts${slo.queues ? ` on the queue${slo.queues.length > 1 ? 's' : ''} ${slo.queues.join(', ')}` : ''} that succeed`;
  }
}

type Rule = Record<string, unknown>;

function sloRules(slo: Slo): Rule[] {
  const labels = { slo: slo.name, service: slo.service };
  const match = `{slo=${quote(slo.name)}}`;
  const budget = budgetOf(slo);
  const rules: Rule[] = [];
  for (const window of [
    ...WINDOWS,
    ...(WINDOWS.includes(slo.period as never) ? [] : [slo.period]),
  ]) {
    rules.push({ record: RECORD.errorRatio(window), expr: errorRatioExpr(slo, window), labels });
  }
  rules.push({ record: RECORD.objective, expr: `vector(${slo.objective})`, labels });
  rules.push({
    record: RECORD.budgetRemaining,
    expr: `1 - ${RECORD.errorRatio(slo.period)}${match} / ${budget}`,
    labels,
  });
  const what = slo.description ?? goodEvents(slo);
  for (const alert of BURN_ALERTS) {
    const burn = burnRate(alert, slo.period);
    const ratio = (window: string) => `${RECORD.errorRatio(window)}${match} / ${budget}`;
    const lasts = round(hoursOf(slo.period) / burn);
    rules.push({
      alert: ALERT_NAME,
      expr: `${ratio(alert.long)} > ${burn}\nand\n${ratio(alert.short)} > ${burn}`,
      for: alert.for,
      labels: { severity: alert.severity, slo: slo.name, window: alert.long },
      annotations: {
        summary: `{{ $labels.service }}: SLO {{ $labels.slo }} burns its error budget {{ $value | printf "%.1f" }}× as fast as it allows ({{ with printf "${RECORD.budgetRemaining}{slo='%s'} * 100" $labels.slo | query }}{{ . | first | value | printf "%.0f" }}%{{ else }}unknown{{ end }} of the ${slo.period} budget left)`,
        description: `The error ratio of {{ $labels.slo }} (${what}, objective ${percent(slo.objective)} over ${slo.period}) was above ${burn}× its ${percent(budget)} budget over the last ${alert.long} and the last ${alert.short}: at ${burn}× the whole ${slo.period} budget is spent in ${lasts < 48 ? `${Number(lasts.toFixed(1))} hours` : `${Number((lasts / 24).toFixed(1))} days`}.`,
        runbook_url: slo.runbook,
      },
    });
  }
  return rules;
}

/** The Prometheus rule groups of an SLO file: one group per SLO. */
export function sloRuleGroups(file: SloFile): { groups: { name: string; rules: Rule[] }[] } {
  return { groups: file.slos.map((slo) => ({ name: `slo-${slo.name}`, rules: sloRules(slo) })) };
}

/** The rule file for an SLO file, as Prometheus reads it (YAML), with a header naming its source. */
export function sloRulesYaml(file: SloFile, source?: string): string {
  const header = [
    '# Generated by obskit-slo: do not edit; change the SLO file and generate again.',
    ...(source === undefined ? [] : [`# Source: ${source}`]),
    `# ${file.slos.length} SLO(s): recording rules for the error ratio over ${WINDOWS.join(', ')} and the`,
    '# period, the budget left, and the multiwindow burn-rate alerts (SRE Workbook).',
  ];
  return `${header.join('\n')}\n${stringify(sloRuleGroups(file), { lineWidth: 0, aliasDuplicateObjects: false })}`;
}

/** How many series the recording rules of an SLO file make: windows and budget per SLO. */
export function recordedSeriesCount(file: SloFile): number {
  return file.slos.reduce(
    (n, slo) => n + WINDOWS.length + (WINDOWS.includes(slo.period as never) ? 0 : 1) + 2,
    0,
  );
}
