import { describe, expect, it } from 'vitest';
import { guardAsyncCallback, guardCallback, type WarnLogger } from '../src/internal.js';

function recorder(): WarnLogger & { lines: { fields: Record<string, unknown>; msg: string }[] } {
  const lines: { fields: Record<string, unknown>; msg: string }[] = [];
  return {
    lines,
    warn(fields, msg) {
      lines.push({ fields: fields as Record<string, unknown>, msg });
    },
  };
}

describe('user callback guards', () => {
  it('return the fallback when the callback throws, and report the first failure only', () => {
    const log = recorder();
    let calls = 0;
    const guarded = guardCallback(
      (n: number) => {
        calls++;
        if (n < 0) throw new RangeError(`negative: ${n}`);
        return n * 2;
      },
      'metrics.customLabels.values',
      -1,
      log,
    );
    expect(guarded(2)).toBe(4);
    expect(guarded(-1)).toBe(-1);
    expect(guarded(-2)).toBe(-1);
    expect(guarded(3)).toBe(6);
    expect(calls).toBe(4);
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]?.msg).toMatch(/^metrics\.customLabels\.values threw: negative: -1/);
    expect(log.lines[0]?.fields.option).toBe('metrics.customLabels.values');
    expect(log.lines[0]?.fields.err).toBeInstanceOf(RangeError);
  });

  it('resolve with the fallback when an async callback rejects or throws', async () => {
    const log = recorder();
    const rejects = guardAsyncCallback(
      async () => {
        throw new Error('db down');
      },
      'metrics.endpoint.authorize',
      false,
      log,
    );
    const throws = guardAsyncCallback(
      () => {
        throw new Error('sync');
      },
      'jobs.queueDepth',
      undefined,
      log,
    );
    expect(await rejects()).toBe(false);
    expect(await rejects()).toBe(false);
    expect(await throws()).toBeUndefined();
    expect(log.lines.map((l) => l.msg.split(':')[0])).toEqual([
      'metrics.endpoint.authorize threw',
      'jobs.queueDepth threw',
    ]);
  });
});
