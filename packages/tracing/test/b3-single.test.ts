// OTEL_PROPAGATORS=b3: the single `b3` header in and out, on both frameworks, and nothing else
// (the W3C headers only when they are configured too; see b3.test.ts for b3multi).
import { describe, expect, it } from 'vitest';
import { b3Harness, SPAN, TRACE } from './b3-support.js';

const { downstream, service } = b3Harness('b3');

describe.each(['fastify', 'express'])('single-header B3 on %s', (framework) => {
  it('continues an incoming b3 trace and sends one b3 header out, no x-b3-* and no traceparent', async () => {
    const down = await downstream();
    const url = await service(framework, down.url);
    await (await fetch(url, { headers: { b3: `${TRACE}-${SPAN}-1` } })).text();
    const [seen] = down.seen;
    const [trace, span, sampled] = String(seen?.b3).split('-');
    expect(trace).toBe(TRACE);
    expect(span).toMatch(/^[0-9a-f]{16}$/);
    expect(span).not.toBe(SPAN);
    expect(sampled).toBe('1');
    expect(Object.keys(seen ?? {}).filter((h) => h.startsWith('x-b3-'))).toEqual([]);
    expect(seen?.traceparent).toBeUndefined();
  });

  it('starts a new trace for a malformed b3 header', async () => {
    const down = await downstream();
    const url = await service(framework, down.url);
    await (await fetch(url, { headers: { b3: 'not-a-b3-header' } })).text();
    const [trace] = String(down.seen[0]?.b3).split('-');
    expect(trace).toMatch(/^[0-9a-f]{32}$/);
    expect(trace).not.toBe(TRACE);
  });
});
