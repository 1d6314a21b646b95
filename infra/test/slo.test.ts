// The demo's SLO rules (infra/prometheus/slo-rules.yml, generated from slo.yml by obskit-slo):
// up to date with the SLO file, valid for promtool, and every burn-rate alert proven with promtool
// unit tests built from a model of the traffic: each fires at the burn it is meant for, stays
// quiet just below it, waits for its long window, and resolves once its short window is clean.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ALERT_NAME,
  BURN_ALERTS,
  budgetOf,
  burnRate,
  hoursOf,
  parseSloFile,
  sloRulesYaml,
  type Slo,
} from '../../packages/slo/src/index.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const sloYml = join(root, 'infra', 'prometheus', 'slo.yml');
const sloRulesYml = join(root, 'infra', 'prometheus', 'slo-rules.yml');
const cli = join(root, 'packages', 'slo', 'dist', 'cli.js');
const file = parseSloFile(readFileSync(sloYml, 'utf8'), 'slo.yml');

const dir = mkdtempSync(join(tmpdir(), 'obskit-slo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(cmd: string, args: string[]): { status: number | null; output: string } {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, output: `${cmd} ${args.join(' ')}\n${r.stdout}${r.stderr}` };
}

describe('the demo SLO rules', () => {
  it('are what obskit-slo generates from infra/prometheus/slo.yml', () => {
    expect(readFileSync(sloRulesYml, 'utf8')).toBe(sloRulesYaml(file, 'slo.yml'));
    // The command says the same, and fails on a stale file.
    const ok = run(process.execPath, [cli, sloYml, '--check', sloRulesYml]);
    expect(ok.status, ok.output).toBe(0);
    const stale = join(dir, 'stale.yml');
    writeFileSync(stale, readFileSync(sloRulesYml, 'utf8').replace('0.999', '0.99'));
    const bad = run(process.execPath, [cli, sloYml, '--check', stale]);
    expect(bad.status, bad.output).toBe(1);
    expect(bad.output).toContain('is out of date with');
  });

  it('pass promtool check rules, with windows and budget per SLO and four alerts each', () => {
    const r = run('promtool', ['check', 'rules', sloRulesYml]);
    expect(r.status, r.output).toBe(0);
    // 7 windows + the 30d period + objective + budget left, per SLO; 4 alerts per SLO.
    expect(r.output).toContain(`SUCCESS: ${file.slos.length * (10 + 4)} rules found`);
  });
});

// --- a model of the traffic and of Prometheus' evaluation -------------------------------------

/** Minutes of piecewise-steady traffic: `bad` of every `total` events are bad in each phase. */
interface Phase {
  minutes: number;
  ratio: number;
}

const EVENTS_PER_MINUTE = 1000;
// Counters start well above zero: Prometheus then extrapolates both counters of a ratio alike.
const START = { total: 1_000_000, bad: 10_000 };

/** Cumulative counters sampled every `step` minutes through the phases, whole numbers. */
function counters(phases: Phase[], step: number): { total: number[]; bad: number[] } {
  const total = [START.total];
  const bad = [START.bad];
  let sumTotal: number = START.total;
  let sumBad: number = START.bad;
  const end = phases.reduce((n, p) => n + p.minutes, 0);
  for (let t = 0; t + step <= end + 1e-9; t += step) {
    for (let m = t; m < t + step - 1e-9; m++) {
      let at = 0;
      const phase = phases.find((p) => m < (at += p.minutes)) ?? phases.at(-1)!;
      sumTotal += EVENTS_PER_MINUTE;
      sumBad += EVENTS_PER_MINUTE * phase.ratio;
    }
    total.push(Math.round(sumTotal));
    bad.push(Math.round(sumBad));
  }
  return { total, bad };
}

/** The error ratio over `window` minutes at minute `at`, as `rate()` over both counters gives it. */
function ratioAt(
  series: { total: number[]; bad: number[] },
  step: number,
  at: number,
  window: number,
): number | undefined {
  const inRange = series.total
    .map((_, i) => i)
    .filter((i) => i * step <= at + 1e-9 && i * step > at - window + 1e-9);
  if (inRange.length < 2) return undefined;
  const first = inRange[0]!;
  const last = inRange.at(-1)!;
  return (series.bad[last]! - series.bad[first]!) / (series.total[last]! - series.total[first]!);
}

interface Expected {
  window: string;
  severity: string;
  burn: number;
  budgetLeft: number;
}

/**
 * The burn-rate alerts firing at minute `at`: evaluated every `evalStep` minutes from the start,
 * each alert's condition (long and short window above its burn) must have held without a break
 * for its `for:`.
 */
function firing(
  slo: Slo,
  series: ReturnType<typeof counters>,
  step: number,
  at: number,
  evalStep: number,
): Expected[] {
  const budget = budgetOf(slo);
  const out: Expected[] = [];
  for (const alert of BURN_ALERTS) {
    const burn = burnRate(alert, slo.period);
    const holds = (t: number): boolean => {
      const long = ratioAt(series, step, t, hoursOf(alert.long) * 60);
      const short = ratioAt(series, step, t, hoursOf(alert.short) * 60);
      return (
        long !== undefined && short !== undefined && long / budget > burn && short / budget > burn
      );
    };
    let since: number | undefined;
    for (let t = 0; t <= at + 1e-9; t += evalStep) {
      if (holds(t)) since ??= t;
      else since = undefined;
    }
    if (since !== undefined && at - since >= hoursOf(alert.for) * 60 - 1e-9) {
      const long = ratioAt(series, step, at, hoursOf(alert.long) * 60)!;
      const period = ratioAt(series, step, at, hoursOf(slo.period) * 60)!;
      out.push({
        window: alert.long,
        severity: alert.severity,
        burn: long / budget,
        budgetLeft: 1 - period / budget,
      });
    }
  }
  return out;
}

// Go's %.1f and %.0f, as the alert templates print the burn and the budget left.
const fixed = (n: number, digits: number): string => {
  const s = n.toFixed(digits);
  return s === '-0' ? '0' : s;
};

function inputSeries(
  slo: Slo,
  series: ReturnType<typeof counters>,
): { series: string; values: string }[] {
  const values = (xs: number[]) => xs.join(' ');
  const s = JSON.stringify(slo.service);
  switch (slo.sli) {
    case 'availability':
      return [
        {
          series: `http_requests_total{service=${s}, method="GET", route="/users/:id", status_code="200"}`,
          values: values(series.total.map((t, i) => t - series.bad[i]!)),
        },
        {
          series: `http_requests_total{service=${s}, method="GET", route="/users/:id", status_code="503"}`,
          values: values(series.bad),
        },
      ];
    case 'latency': {
      const route = JSON.stringify(slo.routes?.[0] ?? '/users/:id');
      const method = JSON.stringify(slo.methods?.[0] ?? 'GET');
      return [
        {
          series: `http_request_duration_seconds_bucket{service=${s}, method=${method}, route=${route}, status_code="200", le=${JSON.stringify(String(slo.threshold))}}`,
          values: values(series.total.map((t, i) => t - series.bad[i]!)),
        },
        {
          series: `http_request_duration_seconds_count{service=${s}, method=${method}, route=${route}, status_code="200"}`,
          values: values(series.total),
        },
      ];
    }
    case 'jobs': {
      const queue = JSON.stringify(slo.queues?.[0] ?? 'jobs');
      return [
        {
          series: `jobs_total{service=${s}, queue=${queue}, status="success"}`,
          values: values(series.total.map((t, i) => t - series.bad[i]!)),
        },
        {
          series: `jobs_total{service=${s}, queue=${queue}, status="failure"}`,
          values: values(series.bad),
        },
      ];
    }
  }
}

interface Case {
  name: string;
  phases: Phase[];
  /** Minutes between samples: chosen so that no window holds exactly one or two samples by a hair. */
  step: number;
  at: number[];
}

/** The cases for one SLO: per alert, just above and just below its burn, and the windows' timing. */
function cases(slo: Slo): Case[] {
  const budget = budgetOf(slo);
  const out: Case[] = [];
  // Samples every minute for the alerts with a 5m or 30m short window, every 4 and 20 minutes
  // for the slower ones (their short windows hold several samples either way).
  const steps = [1, 1, 4, 20];
  BURN_ALERTS.forEach((alert, i) => {
    const burn = burnRate(alert, slo.period);
    const step = steps[i]!;
    const at = step * 3 + hoursOf(alert.for) * 60 + 0.5;
    for (const [what, factor] of [
      ['just above', 1.1],
      ['just below', 0.9],
    ] as const) {
      out.push({
        name: `${slo.name}: ${alert.long}/${alert.short} alert ${what} ${burn}× (${fixed(factor * burn * budget * 100, 4)}% bad)`,
        phases: [{ minutes: Math.ceil(at) + step, ratio: factor * burn * budget }],
        step,
        at: [at],
      });
    }
  });
  const fast = burnRate(BURN_ALERTS[0], slo.period) * budget * 1.5;
  // Healthy for 6 hours, then bad above the fastest burn: the 1h/5m alert waits for its 1h
  // window to fill (the 5m window alone is above at once).
  out.push({
    name: `${slo.name}: the fast alert waits for its long window`,
    phases: [
      { minutes: 360, ratio: 0 },
      { minutes: 80, ratio: fast },
    ],
    step: 1,
    at: [365.5, 380.5, 420.5],
  });
  // Bad for 40 minutes, then healthy: the fast alert resolves once its 5m window is clean, the
  // 6h/30m alert once its 30m window is.
  out.push({
    name: `${slo.name}: the page alerts resolve when the errors stop`,
    phases: [
      { minutes: 40, ratio: fast },
      { minutes: 60, ratio: 0 },
    ],
    step: 1,
    at: [39.5, 47.5, 75.5],
  });
  return out;
}

const EVAL_STEP = 0.5; // minutes: evaluation at :30, between samples, so no window edge is a tie

function promtoolTest(slo: Slo, c: Case): Record<string, unknown> {
  const series = counters(c.phases, c.step);
  expect(
    c.at.some((at) => firing(slo, series, c.step, at, EVAL_STEP).length > 0) ||
      c.name.includes('below'),
    `${c.name}: a case where nothing fires proves little`,
  ).toBe(true);
  return {
    name: c.name,
    interval: `${c.step}m`,
    input_series: inputSeries(slo, series),
    alert_rule_test: c.at.map((at) => ({
      eval_time: `${at * 60}s`,
      alertname: ALERT_NAME,
      exp_alerts: firing(slo, series, c.step, at, EVAL_STEP).map((e) => ({
        exp_labels: { severity: e.severity, slo: slo.name, service: slo.service, window: e.window },
        exp_annotations: expectedAnnotations(slo, e),
      })),
    })),
  };
}

// The annotations as the generated rule writes them, from the rule file itself with the
// model's values put in: the test checks the values, not a second copy of the wording.
function expectedAnnotations(slo: Slo, e: Expected): Record<string, string> {
  const rules = generatedAlert(slo, e.window);
  const summary = rules.summary
    .replace('{{ $labels.service }}', slo.service)
    .replace('{{ $labels.slo }}', slo.name)
    .replace('{{ $value | printf "%.1f" }}', fixed(e.burn, 1))
    .replace(/\{\{ with printf .*?\{\{ end \}\}/, `${fixed(e.budgetLeft * 100, 0)}%`);
  return {
    summary,
    description: rules.description.replace('{{ $labels.slo }}', slo.name),
    runbook_url: rules.runbook_url,
  };
}

function generatedAlert(
  slo: Slo,
  window: string,
): { summary: string; description: string; runbook_url: string } {
  const groups = (
    parseYaml(sloRulesYaml({ slos: [slo] })) as {
      groups: {
        rules: {
          alert?: string;
          labels?: { window?: string };
          annotations?: Record<string, string>;
        }[];
      }[];
    }
  ).groups;
  const rule = groups[0]!.rules.find((r) => r.alert === ALERT_NAME && r.labels?.window === window)!;
  return rule.annotations as { summary: string; description: string; runbook_url: string };
}

describe('promtool unit tests of every burn-rate alert', () => {
  it.each(file.slos.map((slo) => [slo.name, slo] as const))(
    '%s',
    (_name, slo) => {
      const tests = cases(slo).map((c) => promtoolTest(slo, c));
      const path = join(dir, `${slo.name}.test.yml`);
      writeFileSync(
        path,
        stringify(
          { rule_files: [sloRulesYml], evaluation_interval: `${EVAL_STEP * 60}s`, tests },
          { lineWidth: 0, aliasDuplicateObjects: false },
        ),
      );
      const r = run('promtool', ['test', 'rules', path]);
      expect(r.status, r.output).toBe(0);
      expect(r.output).toContain('SUCCESS');
    },
    120_000,
  );
});
