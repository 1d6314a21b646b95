import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_DURATION_BUCKETS } from '@obskit/metrics';
import { afterAll, describe, expect, it } from 'vitest';
import {
  burnRate,
  BURN_ALERTS,
  DEFAULT_HTTP_BUCKETS,
  errorRatioExpr,
  parseSloFile,
  recordedSeriesCount,
  sloRuleGroups,
  SloFileError,
  validateSloFile,
} from '../src/index.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'obskit-slo-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const one = (slo: Record<string, unknown>) => ({
  slos: [{ name: 'api', service: 'api', sli: 'availability', objective: 99.9, ...slo }],
});

function rejects(content: unknown, message: RegExp): void {
  let thrown: unknown;
  try {
    validateSloFile(content, 'slo.yml');
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(SloFileError);
  expect((thrown as SloFileError).code).toBe('OBSKIT_SLO_INVALID');
  expect((thrown as Error).message).toMatch(message);
}

describe('the SLO file', () => {
  it('knows the buckets obskit’s HTTP histogram has', () => {
    expect(DEFAULT_HTTP_BUCKETS).toEqual(DEFAULT_DURATION_BUCKETS);
  });

  it('takes objectives as percentages or fractions, with a 30d period by default', () => {
    const file = validateSloFile({
      slos: [
        { name: 'a', service: 's', sli: 'availability', objective: 99.9 },
        { name: 'b', service: 's', sli: 'jobs', objective: 0.99, period: '28d' },
      ],
    });
    expect(file.slos.map((s) => [s.objective, s.period])).toEqual([
      [0.999, '30d'],
      [0.99, '28d'],
    ]);
  });

  it.each([
    [{ slos: [] }, /slos must be a non-empty list/],
    [{ slo: [] }, /unknown key "slo"/],
    [one({ objective: 100 }), /objective must be the percentage of good events/],
    [one({ objective: '99.9' }), /objective must be/],
    [one({ sli: 'errors' }), /sli must be "availability", "latency" or "jobs"/],
    [one({ name: 'API errors' }), /name "API errors" must be lower case/],
    [one({ period: '1 month' }), /period must be a duration/],
    [one({ routes: [] }), /routes must be a non-empty list/],
    [one({ methods: ['get'] }), /methods\[0\] "get" does not match/],
    [one({ queues: ['jobs'] }), /queues does not apply to a availability SLO/],
    [one({ threshold: 0.5 }), /threshold applies to latency SLOs only/],
    [one({ sli: 'latency' }), /threshold must be a duration in seconds, one of the buckets/],
    [
      one({ sli: 'latency', threshold: 0.3 }),
      /0.3 s is not a bucket .* the nearest are 0.25 or 0.5/,
    ],
    [
      one({ sli: 'latency', threshold: 0.3, buckets: [0.1, 0.2] }),
      /nearest are 0.2 \(buckets: 0.1, 0.2\)/,
    ],
    [one({ sli: 'latency', threshold: 1, buckets: [2, 1] }), /buckets must be .* increasing/],
    [one({ colour: 'red' }), /slo "api": unknown key "colour"/],
    [{ slos: [one({}).slos[0], one({}).slos[0]] }, /slo "api" is declared twice/],
  ])('rejects %j with a clear error', (content, message) => rejects(content, message));

  it('says where the YAML is broken', () => {
    expect(() => parseSloFile('slos: [\n', 'x.yml')).toThrow(/x.yml: not valid YAML/);
  });
});

describe('the rules', () => {
  const file = validateSloFile({
    slos: [
      {
        name: 'avail',
        service: 'api',
        sli: 'availability',
        objective: 99.9,
        routes: ['/files/*', '/a.b'],
      },
      { name: 'fast', service: 'api', sli: 'latency', objective: 99, threshold: 1 },
      { name: 'jobs', service: 'worker', sli: 'jobs', objective: 99, queues: ['email'] },
    ],
  });

  it('uses the workbook burn rates for a 30-day period and scales them for others', () => {
    expect(BURN_ALERTS.map((a) => burnRate(a, '30d'))).toEqual([14.4, 6, 3, 1]);
    expect(BURN_ALERTS.map((a) => burnRate(a, '7d'))).toEqual([3.36, 1.4, 0.7, 0.2333333333]);
  });

  it('selects obskit’s series with escaped route templates and both spellings of an integer le', () => {
    expect(errorRatioExpr(file.slos[0]!, '5m')).toContain('route=~"/files/\\\\*|/a\\\\.b"');
    expect(errorRatioExpr(file.slos[0]!, '5m')).toContain('status_code=~"5.."');
    expect(errorRatioExpr(file.slos[1]!, '1h')).toContain('le=~"1(\\\\.0)?"');
    expect(errorRatioExpr(file.slos[1]!, '1h')).toContain('route!="__unmatched__"');
    expect(errorRatioExpr(file.slos[2]!, '1d')).toContain(
      'jobs_total{service="worker", queue=~"email", status="failure"}',
    );
  });

  it('records SLOs × windows series and four alerts per SLO', () => {
    const groups = sloRuleGroups(file).groups;
    expect(groups.map((g) => g.name)).toEqual(['slo-avail', 'slo-fast', 'slo-jobs']);
    const records = groups.flatMap((g) => g.rules.filter((r) => 'record' in r));
    expect(records).toHaveLength(recordedSeriesCount(file));
    expect(recordedSeriesCount(file)).toBe(3 * 10);
    for (const group of groups) expect(group.rules.filter((r) => 'alert' in r)).toHaveLength(4);
  });
});

describe('obskit-slo', () => {
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [cli, ...args], { cwd: dir, encoding: 'utf8' });

  it('writes the rules, checks them, and fails clearly on a bad file', () => {
    const slo = join(dir, 'slo.yml');
    writeFileSync(
      slo,
      'slos:\n  - name: api\n    service: api\n    sli: availability\n    objective: 99.5\n',
    );
    const out = join(dir, 'rules.yml');
    const wrote = run(slo, '-o', out);
    expect(wrote.status, wrote.stderr).toBe(0);
    expect(wrote.stderr).toContain('1 SLO(s), 10 recorded series');
    expect(readFileSync(out, 'utf8')).toContain('vector(0.995)');
    expect(run(slo).stdout).toBe(readFileSync(out, 'utf8'));
    expect(run(slo, '--check', out).status).toBe(0);
    writeFileSync(slo, readFileSync(slo, 'utf8').replace('99.5', '99.9'));
    const stale = run(slo, '--check', out);
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain(`${out} is out of date with ${slo}`);
    writeFileSync(
      slo,
      'slos:\n  - name: api\n    service: api\n    sli: latency\n    threshold: 0.3\n    objective: 99\n',
    );
    const bad = run(slo);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^obskit-slo: .*slo "api"\.threshold 0\.3 s is not a bucket/);
    expect(run('--nope').status).toBe(2);
    expect(run(join(dir, 'missing.yml')).stderr).toContain('no such file');
  });
});
