// Shared by the span export configurations: an OTLP/HTTP receiver in another process
// (_otlp-receiver.mjs), an exporter wrapper that counts what the SDK handed over and what the
// receiver accepted, the spans the batch processor reported dropped, and the STATS line the
// harness reads when the server stops.
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { diag, DiagLogLevel } from '@opentelemetry/api';

export async function startReceiver() {
  const child = fork(fileURLToPath(new URL('./_otlp-receiver.mjs', import.meta.url)), {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  while (!/RECEIVER (\d+)/.test(out)) await once(child.stdout, 'data');
  const url = `http://127.0.0.1:${/RECEIVER (\d+)/.exec(out)[1]}`;
  return {
    url: `${url}/v1/traces`,
    stats: async () => (await fetch(`${url}/stats`)).json(),
    stop: () => child.kill('SIGTERM'),
  };
}

/** Counts spans exported (accepted by the receiver) and failed, around a real exporter. */
export function counting(exporter) {
  const counts = { exported: 0, failed: 0, batches: 0 };
  return {
    counts,
    exporter: {
      export(spans, done) {
        exporter.export(spans, (result) => {
          counts.batches++;
          if (result.code === 0) counts.exported += spans.length;
          else counts.failed += spans.length;
          done(result);
        });
      },
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
    },
  };
}

/** The spans the batch processor says it dropped (its queue full), from its diag warnings. */
export function droppedSpans() {
  const dropped = { reported: 0 };
  const note = (message) => {
    const m = /Dropped (\d+) spans/.exec(String(message));
    if (m) dropped.reported += Number(m[1]);
  };
  diag.setLogger(
    { error: note, warn: note, info: () => {}, debug: () => {}, verbose: () => {} },
    { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
  );
  return dropped;
}

/**
 * Counts requests served on `server`, and on SIGTERM flushes the tracer (`flush`), then prints
 * `STATS {served, exported, failed, dropped, receiver}` and exits.
 */
export async function reportOnExit(server, { counts, dropped, receiver, flush }) {
  let served = 0;
  server.on('request', () => served++);
  // After the LISTENING line's own SIGTERM handler is in place (Express announces on 'listening').
  if (!server.listening) await once(server, 'listening');
  process.removeAllListeners('SIGTERM');
  process.once('SIGTERM', async () => {
    await flush();
    const seen = await receiver.stats();
    process.stdout.write(
      `STATS ${JSON.stringify({ served, ...counts, dropped: dropped.reported, receiver: seen })}\n`,
    );
    receiver.stop();
    process.exit(0);
  });
}
