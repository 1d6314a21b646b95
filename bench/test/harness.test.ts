import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const script = new URL('../run.mjs', import.meta.url).pathname;

interface Summary {
  name: string;
  medianReqPerSec: number;
  medianRatioToBare: number | null;
  medianCpuUsPerReq: number | null;
  medianAddedCpuUs: number | null;
  non2xx: number;
}

describe('bench harness', () => {
  it('runs the bare baselines briefly and writes ratios as JSON', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'obskit-bench-')), 'r.json');
    const { stdout } = await run(
      process.execPath,
      [
        script,
        '--',
        '--rounds',
        '2',
        '--duration',
        '1',
        '--warmup',
        '0',
        '--pause',
        '0',
        '--connections',
        '4',
        '--only',
        'fastify-bare,express-bare',
        // Each bare framework against itself: the comparison's plumbing with a known answer.
        '--compare',
        'bare:bare',
        '--out',
        out,
      ],
      { timeout: 60_000 },
    );
    expect(stdout).toContain('| fastify-bare |');
    expect(stdout).toContain('| express-bare |');
    const { summary, results, comparisons } = JSON.parse(readFileSync(out, 'utf8')) as {
      summary: Summary[];
      results: { round: number; name: string }[];
      comparisons: { a: string; b: string; medianFactor: number; factors: number[] }[];
    };
    expect(stdout).toContain('| fastify-bare ÷ fastify-bare | 1.00× | 1.00, 1.00 |');
    expect(comparisons.map((c) => [c.a, c.b, c.medianFactor, c.factors])).toEqual([
      ['express-bare', 'express-bare', 1, [1, 1]],
      ['fastify-bare', 'fastify-bare', 1, [1, 1]],
    ]);
    expect(results.map((r) => `${r.round}:${r.name}`)).toEqual([
      '1:express-bare',
      '1:fastify-bare',
      // The second round starts one configuration further on.
      '2:fastify-bare',
      '2:express-bare',
    ]);
    for (const s of summary) {
      expect(s.medianReqPerSec).toBeGreaterThan(0);
      expect(s.medianRatioToBare).toBe(1);
      expect(s.non2xx).toBe(0);
      // Server CPU per request, from /proc on Linux; bare against itself adds nothing.
      expect(s.medianCpuUsPerReq).toBeGreaterThan(0);
      expect(s.medianAddedCpuUs).toBe(0);
    }
  }, 60_000);

  it('runs each configuration once per scale setting, against bare under the same setting', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'obskit-bench-')), 'r.json');
    const { stdout } = await run(
      process.execPath,
      [
        script,
        ...['--rounds', '1', '--duration', '0.5', '--warmup', '0', '--pause', '0'],
        ...['--only', 'fastify-bare', '--connections', '2,4', '--routes', '1,200', '--out', out],
      ],
      { timeout: 60_000 },
    );
    const { summary } = JSON.parse(readFileSync(out, 'utf8')) as {
      summary: (Summary & { id: string; connections: number; routes: number })[];
    };
    expect(summary.map((s) => s.id)).toEqual([
      'fastify-bare@c=2,routes=1',
      'fastify-bare@c=2,routes=200',
      'fastify-bare@c=4,routes=1',
      'fastify-bare@c=4,routes=200',
    ]);
    expect(summary.map((s) => [s.connections, s.routes])).toEqual([
      [2, 1],
      [2, 200],
      [4, 1],
      [4, 200],
    ]);
    for (const s of summary) {
      expect(s.medianRatioToBare).toBe(1);
      expect(s.non2xx).toBe(0);
    }
    expect(stdout).toContain('| fastify-bare@c=4,routes=200 |');
  }, 60_000);

  it('rejects bad flags with a clear message', async () => {
    await expect(run(process.execPath, [script, '--rounds', 'many'])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--rounds must be a whole number > 0, got "many"'),
    });
  });
});
