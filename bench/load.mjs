// One measurement of one server, run by run.mjs in a fresh process each time: the load
// generator's own state (its heap, its garbage, its timers) never carries over from the
// configuration measured before, which otherwise shifted later configurations of a round.
// Usage: node load.mjs <port> <server pid> <warm-up s> <duration s> <connections>
// Prints one JSON line: req/s, latency, errors, and the server's CPU seconds around the
// measured part (from /proc on Linux; null elsewhere).
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

const [port, pid, warmup, duration, connections] = process.argv.slice(2).map(Number);

// CPU seconds (user + system, all threads) the server process has used so far.
const ticksPerSecond = 100;
function cpuSeconds() {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
  } catch {
    return null;
  }
}

function load(seconds) {
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration: seconds,
    requests: [
      { method: 'GET', path: '/' },
      { method: 'GET', path: '/users/42' },
    ],
  });
}

if (warmup > 0) await load(warmup);
const cpuBefore = cpuSeconds();
const r = await load(duration);
const cpuAfter = cpuSeconds();
process.stdout.write(
  `${JSON.stringify({
    reqPerSec: r.requests.average,
    total: r.requests.total,
    p99Ms: r.latency.p99,
    p50Ms: r.latency.p50,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    cpuSeconds: cpuBefore === null || cpuAfter === null ? null : cpuAfter - cpuBefore,
  })}\n`,
);
