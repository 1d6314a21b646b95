// obskit overhead benchmark. Each configuration runs as its own server process on 127.0.0.1 and
// is loaded by autocannon, from a fresh process per measurement (load.mjs), for a bounded time.
// Configurations are interleaved over rounds (A B C A B C …) and compared with the bare
// framework of the same round, because this machine is shared and noisy: trust the ratios, not
// single absolute figures.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const serversDir = join(here, 'servers');

const usage = `Usage: pnpm bench [-- options]
  --rounds N        rounds of all configurations (default 3)
  --duration S      measured seconds per configuration and round (default 10)
  --warmup S        unmeasured seconds before each measurement (default 2)
  --connections N   concurrent connections (default 50)
  --pause S         idle seconds before starting each server (default 2)
  --only A,B        configurations whose name contains one of these (bare baselines always run)
  --compare A:B     also print A against B per framework (default obskit-full:peer-stack)
  --out FILE        where to write the raw results as JSON (default bench/results/<time>.json)
  --list            print the configurations and exit`;

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    pause: { type: 'string', default: '2' },
    only: { type: 'string' },
    compare: { type: 'string', default: 'obskit-full:peer-stack' },
    out: { type: 'string' },
    list: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}

function positive(name, text, { integer = true, zero = false } = {}) {
  const n = Number(text);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < 0 || (!zero && n === 0)) {
    console.error(
      `--${name} must be a ${integer ? 'whole ' : ''}number${zero ? ' >= 0' : ' > 0'}, got "${text}"\n\n${usage}`,
    );
    process.exit(2);
  }
  return n;
}
const rounds = positive('rounds', values.rounds);
const duration = positive('duration', values.duration, { integer: false });
const warmup = positive('warmup', values.warmup, { integer: false, zero: true });
const connections = positive('connections', values.connections);
const pause = positive('pause', values.pause, { integer: false, zero: true });

const all = readdirSync(serversDir)
  .filter((f) => f.endsWith('.mjs') && !f.startsWith('_'))
  .map((f) => f.slice(0, -4))
  .sort((a, b) => a.localeCompare(b));
// A configuration's group is the longest prefix with a `-bare` configuration of its own
// (`fastify-fetch-obskit-full` is compared with `fastify-fetch-bare`), else its framework.
const frameworkOf = (name) => {
  const parts = name.split('-');
  for (let i = parts.length - 1; i >= 1; i--) {
    const prefix = parts.slice(0, i).join('-');
    if (all.includes(`${prefix}-bare`)) return prefix;
  }
  return parts[0];
};
const bareOf = (name) => `${frameworkOf(name)}-bare`;

if (values.list) {
  console.log(all.join('\n'));
  process.exit(0);
}

let selected = all;
if (values.only) {
  const wanted = values.only
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  selected = all.filter((name) => wanted.some((w) => name.includes(w)));
  if (selected.length === 0) {
    console.error(
      `--only ${values.only} matches no configuration; there are:\n  ${all.join('\n  ')}`,
    );
    process.exit(2);
  }
  for (const name of [...selected]) {
    if (!selected.includes(bareOf(name)) && all.includes(bareOf(name))) selected.push(bareOf(name));
  }
}
// Baselines first in each round, then the rest grouped by framework.
selected.sort((a, b) => {
  const fa = frameworkOf(a);
  const fb = frameworkOf(b);
  if (fa !== fb) return fa.localeCompare(fb);
  if (a === bareOf(a)) return -1;
  if (b === bareOf(b)) return 1;
  return a.localeCompare(b);
});

async function startServer(name) {
  const child = spawn(process.execPath, [join(serversDir, `${name}.mjs`)], {
    cwd: here,
    env: { ...process.env, NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 15 s`)), 15_000);
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const match = /LISTENING (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening`));
    });
  });
  child.stdout.resume();
  return { child, port };
}

async function stopServer(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

// One measurement in a fresh load-generator process (see load.mjs).
async function measure(child, port) {
  const gen = spawn(
    process.execPath,
    [join(here, 'load.mjs'), port, child.pid, warmup, duration, connections].map(String),
    { cwd: here, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  gen.stdout.on('data', (chunk) => (output += chunk));
  const [code] = await once(gen, 'exit');
  if (code !== 0) throw new Error(`the load generator exited with ${code}`);
  return JSON.parse(output);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const results = [];
console.log(
  `obskit bench: ${selected.length} configurations × ${rounds} rounds, ${duration}s each (+${warmup}s warm-up), ${connections} connections, Node ${process.version}`,
);
// Each round starts one configuration further down the list, so that over rounds every
// configuration runs in every position: identical servers measured 1.11 and 1.22 of the one that
// always ran first in its round.
const orderOf = (round) => {
  const k = (round - 1) % selected.length;
  return [...selected.slice(k), ...selected.slice(0, k)];
};
for (let round = 1; round <= rounds; round++) {
  for (const name of orderOf(round)) {
    // Let the machine settle after the previous server's exit (its memory, its sockets): a
    // configuration measured right after a heavy one otherwise ran measurably slower.
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause * 1000));
    const { child, port } = await startServer(name);
    try {
      const r = await measure(child, port);
      // Server CPU (user + system, all threads, from /proc on Linux) per request: a second
      // view beside req/s. A round slowed by a neighbour mostly waits longer; it does less
      // extra work per request.
      const cpuUsPerReq =
        r.cpuSeconds === null || r.total === 0 ? undefined : (r.cpuSeconds * 1e6) / r.total;
      const entry = {
        round,
        name,
        framework: frameworkOf(name),
        reqPerSec: r.reqPerSec,
        p99Ms: r.p99Ms,
        p50Ms: r.p50Ms,
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        cpuUsPerReq,
      };
      results.push(entry);
      const flag =
        entry.non2xx || entry.errors ? `  (!) non-2xx ${entry.non2xx}, errors ${entry.errors}` : '';
      console.log(
        `round ${round}  ${name.padEnd(30)} ${Math.round(entry.reqPerSec).toString().padStart(7)} req/s  p99 ${entry.p99Ms} ms${cpuUsPerReq === undefined ? '' : `  ${cpuUsPerReq.toFixed(1)} µs CPU/req`}${flag}`,
      );
    } finally {
      await stopServer(child);
    }
  }
}

const summary = selected.map((name) => {
  const mine = results.filter((r) => r.name === name);
  const ratios = mine
    .map((r) => {
      const bare = results.find((b) => b.round === r.round && b.name === bareOf(name));
      return bare && bare.reqPerSec > 0 ? r.reqPerSec / bare.reqPerSec : undefined;
    })
    .filter((x) => x !== undefined);
  // Server CPU per request added to bare's in the same round.
  const added = mine
    .map((r) => {
      const bare = results.find((b) => b.round === r.round && b.name === bareOf(name));
      return bare?.cpuUsPerReq !== undefined && r.cpuUsPerReq !== undefined
        ? r.cpuUsPerReq - bare.cpuUsPerReq
        : undefined;
    })
    .filter((x) => x !== undefined);
  const cpu = mine.map((r) => r.cpuUsPerReq).filter((x) => x !== undefined);
  return {
    name,
    framework: frameworkOf(name),
    medianReqPerSec: median(mine.map((r) => r.reqPerSec)),
    medianP99Ms: median(mine.map((r) => r.p99Ms)),
    medianRatioToBare: ratios.length ? median(ratios) : null,
    ratios,
    medianCpuUsPerReq: cpu.length ? median(cpu) : null,
    medianAddedCpuUs: added.length ? median(added) : null,
    non2xx: mine.reduce((n, r) => n + r.non2xx + r.errors, 0),
  };
});

console.log(
  '\n| configuration | median req/s | median p99 (ms) | ratio to bare (median of rounds) | server CPU µs/req | + µs vs bare |',
);
console.log('|---|---:|---:|---:|---:|---:|');
const fixed = (x, digits) => (x === null ? 'n/a' : x.toFixed(digits));
for (const s of summary) {
  const warn = s.non2xx ? ` (${s.non2xx} non-2xx/errors)` : '';
  console.log(
    `| ${s.name} | ${Math.round(s.medianReqPerSec)} | ${s.medianP99Ms} | ${fixed(s.medianRatioToBare, 2)}${warn} | ${fixed(s.medianCpuUsPerReq, 1)} | ${fixed(s.medianAddedCpuUs, 1)} |`,
  );
}

// A against B within each framework: the median over rounds of A's req/s ÷ B's req/s in the same
// round, and B's median CPU per request ÷ A's (how many times less CPU A spends per request).
const [compareA, compareB] = values.compare.split(':');
const comparisons = [];
if (compareA && compareB) {
  for (const framework of [...new Set(selected.map(frameworkOf))]) {
    const a = `${framework}-${compareA}`;
    const b = `${framework}-${compareB}`;
    if (!selected.includes(a) || !selected.includes(b)) continue;
    const factors = results
      .filter((r) => r.name === a)
      .map((r) => {
        const other = results.find((o) => o.round === r.round && o.name === b);
        return other && other.reqPerSec > 0 ? r.reqPerSec / other.reqPerSec : undefined;
      })
      .filter((x) => x !== undefined);
    const cpuA = summary.find((s) => s.name === a)?.medianCpuUsPerReq;
    const cpuB = summary.find((s) => s.name === b)?.medianCpuUsPerReq;
    comparisons.push({
      a,
      b,
      medianFactor: factors.length ? median(factors) : null,
      factors,
      cpuFactor: cpuA && cpuB ? cpuB / cpuA : null,
    });
  }
}
if (comparisons.length > 0) {
  console.log('\n| A ÷ B | req/s factor (median of rounds) | per-round factors | CPU factor |');
  console.log('|---|---:|---|---:|');
  for (const c of comparisons) {
    console.log(
      `| ${c.a} ÷ ${c.b} | ${fixed(c.medianFactor, 2)}× | ${c.factors.map((f) => f.toFixed(2)).join(', ')} | ${fixed(c.cpuFactor, 2)}× |`,
    );
  }
}

const out =
  values.out ?? join(here, 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  JSON.stringify(
    {
      node: process.version,
      rounds,
      duration,
      warmup,
      connections,
      date: new Date().toISOString(),
      summary,
      comparisons,
      results,
    },
    null,
    2,
  ) + '\n',
);
console.log(`\nraw results: ${out}`);
