// OTEL_PROPAGATORS=b3multi: B3 headers in, B3 headers out, on both frameworks.
import { describe, expect, it } from 'vitest';
import { b3Harness, SPAN, TRACE } from './b3-support.js';

const { downstream, service } = b3Harness('b3multi,tracecontext');

describe.each(['fastify', 'express'])('B3 on %s', (framework) => {
  it('continues an incoming B3 trace and sends B3 and W3C headers out', async () => {
    const down = await downstream();
    const url = await service(framework, down.url);
    await (
      await fetch(url, {
        headers: { 'x-b3-traceid': TRACE, 'x-b3-spanid': SPAN, 'x-b3-sampled': '1' },
      })
    ).text();
    const [seen] = down.seen;
    expect(seen?.['x-b3-traceid']).toBe(TRACE);
    expect(seen?.['x-b3-spanid']).toMatch(/^[0-9a-f]{16}$/);
    expect(seen?.['x-b3-spanid']).not.toBe(SPAN);
    expect(seen?.['x-b3-sampled']).toBe('1');
    expect(String(seen?.traceparent).split('-')[1]).toBe(TRACE);
  });
});
