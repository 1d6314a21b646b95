// Per-call CPU of an outgoing call inside a traced request context, with obskit's client span
// and injection on or off: node bench/call-cost.mjs <fetch|http> <traced|untraced> [calls]
// Prints one JSON line: CPU µs per call of this process (the downstream runs in another).
import { startDownstream } from './servers/_downstream.mjs';
import { fetchJson, httpGetJson } from './servers/_common.mjs';
import { droppingExporter } from './servers/_otel.mjs';

const [client = 'fetch', mode = 'traced', n = '20000'] = process.argv.slice(2);
const { startTracing, withSpan } = await import('@obskit/tracing');
const { runWithRequestContext } = await import('@obskit/core');
const { propagateRequestId } = await import('@obskit/request-id');
const traced = mode === 'traced';
startTracing({
  exporter: droppingExporter,
  sampleRatio: 1,
  serviceName: 'bench',
  outgoing: traced,
});
if (traced) propagateRequestId();
const url = await startDownstream();
const get = client === 'http' ? httpGetJson : fetchJson;
const calls = Number(n);
const concurrency = 20;
async function worker(count) {
  for (let i = 0; i < count; i++) {
    await runWithRequestContext({ reqId: `req-${i}` }, () =>
      withSpan('GET /x', {}, () => get(url)),
    );
  }
}
await Promise.all(Array.from({ length: concurrency }, () => worker(500))); // warm-up
const start = process.cpuUsage();
const t0 = performance.now();
await Promise.all(Array.from({ length: concurrency }, () => worker(calls / concurrency)));
const cpu = process.cpuUsage(start);
console.log(
  JSON.stringify({
    client,
    mode,
    calls,
    cpuUsPerCall: (cpu.user + cpu.system) / calls,
    wallMs: performance.now() - t0,
  }),
);
process.exit(0);
