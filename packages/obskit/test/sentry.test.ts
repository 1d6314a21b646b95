// Failures reported to Sentry with the real @sentry/node SDK, sent to an envelope receiver on
// 127.0.0.1 and decoded: one event per failed request, tagged with its request id, route and
// trace, its trace context the OpenTelemetry trace.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { listen, waitFor } from '@obskit/test-support';
import { afterEach, describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/sentry-app.mjs', import.meta.url));
const children: ChildProcess[] = [];
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  await Promise.all(closers.splice(0).map((close) => close()));
});

interface SentryEvent {
  exception?: { values?: { type?: string; value?: string }[] };
  tags?: Record<string, string>;
  contexts?: { trace?: { trace_id?: string; span_id?: string } };
  release?: string;
  transaction?: string;
}

/** A Sentry envelope endpoint: keeps the events of the envelopes it receives. */
async function envelopeReceiver(): Promise<{ dsn: string; events: SentryEvent[] }> {
  const events: SentryEvent[] = [];
  const running = await listen(
    createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.url?.startsWith('/api/1/envelope/')) {
          // Newline-delimited: the envelope header, then (item header, item payload) pairs.
          const lines = body.split('\n').filter((l) => l.length > 0);
          for (let i = 1; i + 1 < lines.length; i += 2) {
            const item = JSON.parse(lines[i] as string) as { type?: string };
            if (item.type === 'event')
              events.push(JSON.parse(lines[i + 1] as string) as SentryEvent);
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    }),
  );
  closers.push(running.close);
  return { dsn: `http://public@127.0.0.1:${running.port}/1`, events };
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

describe.each(['fastify', 'express'])('Sentry on %s', (framework) => {
  it('gets one event per failure, tagged with reqId, route and the trace ids', async () => {
    const { dsn, events } = await envelopeReceiver();
    const child = spawn(process.execPath, [fixture, framework], {
      env: { ...process.env, SENTRY_DSN: dsn },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    await waitFor(() => /LISTENING \d+/.test(output), 15_000, `the service:\n${output}`);
    const port = /LISTENING (\d+)/.exec(output)?.[1];
    const response = await fetch(`http://127.0.0.1:${port}/orders/7/pay`, {
      headers: { 'x-request-id': 'sentry-req-1', traceparent: `00-${TRACE}-00f067aa0ba902b7-01` },
    });
    expect(response.status).toBe(500);
    await waitFor(() => events.length > 0, 10_000, `a Sentry event:\n${output}`);
    const [event] = events;
    // Sentry names the exception by the error's `name`; obskit's tag by its class, as elsewhere.
    expect(event?.exception?.values?.[0]).toMatchObject({ type: 'Error', value: 'card declined' });
    expect(event?.tags).toMatchObject({
      reqId: 'sentry-req-1',
      route: '/orders/:id/pay',
      status_code: '500',
      method: 'GET',
      trace_id: TRACE,
      'error.type': 'PaymentDeclined',
    });
    expect(event?.tags?.span_id).toMatch(/^[0-9a-f]{16}$/);
    expect(event?.contexts?.trace?.trace_id).toBe(TRACE);
    expect(event?.contexts?.trace?.span_id).toBe(event?.tags?.span_id);
    expect(event?.release).toBe('orders@1.4.0');
    // Named by the route template, not the raw URL with its id.
    expect(event?.transaction).toBe('GET /orders/:id/pay');
    // A healthy request reports nothing more: another failure sent after it is the next (and
    // last) event (a different error: Sentry drops a repeat of the one before).
    await (await fetch(`http://127.0.0.1:${port}/health/live`)).text();
    await fetch(`http://127.0.0.1:${port}/orders/8/refund`, {
      headers: { 'x-request-id': 'sentry-req-2' },
    });
    await waitFor(() => events.length >= 2, 10_000, `the second Sentry event:\n${output}`);
    expect(events.map((e) => e.tags?.reqId)).toEqual(['sentry-req-1', 'sentry-req-2']);
  }, 30_000);

  it('sends every event of failures right before SIGTERM, with sentryFlush as a shutdown hook', async () => {
    const { dsn, events } = await envelopeReceiver();
    const child = spawn(process.execPath, [fixture, framework], {
      env: { ...process.env, SENTRY_DSN: dsn, SHUTDOWN: '1', SENTRY_SLOW: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    const exited = once(child, 'exit');
    await waitFor(() => /LISTENING \d+/.test(output), 15_000, `the service:\n${output}`);
    const port = /LISTENING (\d+)/.exec(output)?.[1];
    const statuses = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        fetch(`http://127.0.0.1:${port}/orders/${i}/refund`).then((r) => r.status),
      ),
    );
    expect(statuses).toEqual([500, 500, 500, 500, 500]);
    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code, output).toBe(0);
    const refunds = events.map((e) => e.exception?.values?.[0]?.value).filter(Boolean);
    expect(refunds.sort()).toEqual([0, 1, 2, 3, 4].map((i) => `refund of ${i} failed`));
  }, 30_000);
});
