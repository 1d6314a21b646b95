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
By default a quick run: the bare frameworks, obskit-full and peer-stack, 2 rounds of 5 s.
  --all             every configuration in servers/
  --rounds N        rounds of all configurations (default 2)
  --duration S      measured seconds per configuration and round (default 5)
  --warmup S        unmeasured seconds before each measurement (default 1)
  --connections N,M concurrent connections; a list runs each (default 50)
  --routes N,M      register N more routes in every server before the measured ones (scale run)
  --log-lines N,M   application log lines per request, for the *-logs-* configurations
  --pause S         idle seconds before starting each server (default 1)
  --only A,B        configurations whose name contains one of these (bare baselines always run)
  --compare A:B     also print A against B per framework (default obskit-full:peer-stack)
  --out FILE        where to write the raw results as JSON (default bench/results/<time>.json)
  --list            print the configurations and exit`;

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    all: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '2' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    connections: { type: 'string', default: '50' },
    routes: { type: 'string' },
    'log-lines': { type: 'string' },
    pause: { type: 'string', default: '1' },
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
const list = (name, text) => text.split(',').map((t) => positive(name, t.trim()));
const connectionCounts = list('connections', values.connections);
const routeCounts = values.routes === undefined ? [undefined] : list('routes', values.routes);
const logLines =
  values['log-lines'] === undefined ? [undefined] : list('log-lines', values['log-lines']);
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

// The quick default: what the headline compares.
const HEADLINE = /^(fastify|express)-(bare|obskit-full|peer-stack)$/;
let selected = values.all || values.only ? all : all.filter((name) => HEADLINE.test(name));
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

async function startServer(name, env) {
  const child = spawn(process.execPath, [join(serversDir, `${name}.mjs`)], {
    cwd: here,
    env: { ...process.env, NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  child.output = () => output;
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
  return { child, port };
}

// What a server reports of itself at exit: a `STATS {json}` line (the span export configurations).
const statsOf = (child) => {
  const line = child
    .output()
    .split('\n')
    .find((l) => l.startsWith('STATS '));
  return line === undefined ? undefined : JSON.parse(line.slice(6));
};

async function stopServer(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

// One measurement in a fresh load-generator process (see load.mjs).
async function measure(child, port, connections) {
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

// Every configuration once per scale setting (connections, routes, log lines), each compared with
// the bare framework under the same setting.
const runs = [];
for (const c of connectionCounts) {
  for (const routes of routeCounts) {
    for (const lines of logLines) {
      const suffix = [
        connectionCounts.length > 1 ? `c=${c}` : '',
        routes === undefined ? '' : `routes=${routes}`,
        lines === undefined ? '' : `lines=${lines}`,
      ]
        .filter(Boolean)
        .join(',');
      const at = suffix === '' ? '' : `@${suffix}`;
      for (const name of selected) {
        runs.push({
          id: `${name}${at}`,
          bareId: `${bareOf(name)}${at}`,
          name,
          framework: frameworkOf(name),
          setting: suffix,
          connections: c,
          routes,
          lines,
          env: {
            ...(routes === undefined ? {} : { BENCH_ROUTES: String(routes) }),
            ...(lines === undefined ? {} : { LOG_LINES: String(lines) }),
          },
        });
      }
    }
  }
}

const results = [];
console.log(
  `obskit bench: ${runs.length} configurations × ${rounds} rounds, ${duration}s each (+${warmup}s warm-up), ${connectionCounts.join('/')} connections, Node ${process.version}`,
);
// Each round starts one configuration further down the list, so that over rounds every
// configuration runs in every position: identical servers measured 1.11 and 1.22 of the one that
// always ran first in its round.
const orderOf = (round) => {
  const k = (round - 1) % runs.length;
  return [...runs.slice(k), ...runs.slice(0, k)];
};
for (let round = 1; round <= rounds; round++) {
  for (const run of orderOf(round)) {
    // Let the machine settle after the previous server's exit (its memory, its sockets): a
    // configuration measured right after a heavy one otherwise ran measurably slower.
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause * 1000));
    const { child, port } = await startServer(run.name, run.env);
    let r;
    try {
      r = await measure(child, port, run.connections);
    } finally {
      await stopServer(child);
    }
    // Server CPU (user + system, all threads, from /proc on Linux) per request: a second
    // view beside req/s. A round slowed by a neighbour mostly waits longer; it does less
    // extra work per request.
    const cpuUsPerReq =
      r.cpuSeconds === null || r.total === 0 ? undefined : (r.cpuSeconds * 1e6) / r.total;
    const stats = statsOf(child);
    const entry = {
      round,
      id: run.id,
      name: run.name,
      framework: run.framework,
      setting: run.setting,
      reqPerSec: r.reqPerSec,
      total: r.total,
      p99Ms: r.p99Ms,
      p50Ms: r.p50Ms,
      non2xx: r.non2xx,
      errors: r.errors,
      timeouts: r.timeouts,
      cpuUsPerReq,
      ...(stats === undefined ? {} : { stats }),
    };
    results.push(entry);
    const flag =
      entry.non2xx || entry.errors ? `  (!) non-2xx ${entry.non2xx}, errors ${entry.errors}` : '';
    console.log(
      `round ${round}  ${run.id.padEnd(36)} ${Math.round(entry.reqPerSec).toString().padStart(7)} req/s  p99 ${entry.p99Ms} ms${cpuUsPerReq === undefined ? '' : `  ${cpuUsPerReq.toFixed(1)} µs CPU/req`}${stats === undefined ? '' : `  ${JSON.stringify(stats)}`}${flag}`,
    );
  }
}

const summary = runs.map((run) => {
  const mine = results.filter((r) => r.id === run.id);
  const sameRoundBare = (r) => results.find((b) => b.round === r.round && b.id === run.bareId);
  const ratios = mine
    .map((r) => {
      const bare = sameRoundBare(r);
      return bare && bare.reqPerSec > 0 ? r.reqPerSec / bare.reqPerSec : undefined;
    })
    .filter((x) => x !== undefined);
  // Server CPU per request added to bare's in the same round.
  const added = mine
    .map((r) => {
      const bare = sameRoundBare(r);
      return bare?.cpuUsPerReq !== undefined && r.cpuUsPerReq !== undefined
        ? r.cpuUsPerReq - bare.cpuUsPerReq
        : undefined;
    })
    .filter((x) => x !== undefined);
  const cpu = mine.map((r) => r.cpuUsPerReq).filter((x) => x !== undefined);
  return {
    id: run.id,
    name: run.name,
    framework: run.framework,
    setting: run.setting,
    connections: run.connections,
    routes: run.routes ?? null,
    lines: run.lines ?? null,
    medianReqPerSec: median(mine.map((r) => r.reqPerSec)),
    medianP99Ms: median(mine.map((r) => r.p99Ms)),
    medianRatioToBare: ratios.length ? median(ratios) : null,
    ratios,
    medianCpuUsPerReq: cpu.length ? median(cpu) : null,
    medianAddedCpuUs: added.length ? median(added) : null,
    non2xx: mine.reduce((n, r) => n + r.non2xx + r.errors, 0),
    ...(mine.some((r) => r.stats) ? { stats: mine.map((r) => r.stats) } : {}),
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
    `| ${s.id} | ${Math.round(s.medianReqPerSec)} | ${s.medianP99Ms} | ${fixed(s.medianRatioToBare, 2)}${warn} | ${fixed(s.medianCpuUsPerReq, 1)} | ${fixed(s.medianAddedCpuUs, 1)} |`,
  );
}

// A against B within each framework: the median over rounds of A's req/s ÷ B's req/s in the same
// round, and B's median CPU per request ÷ A's (how many times less CPU A spends per request).
const [compareA, compareB] = values.compare.split(':');
const comparisons = [];
if (compareA && compareB) {
  for (const run of runs) {
    if (run.name !== `${run.framework}-${compareA}`) continue;
    const at = run.setting === '' ? '' : `@${run.setting}`;
    const a = run.id;
    const b = `${run.framework}-${compareB}${at}`;
    if (!runs.some((x) => x.id === b)) continue;
    const factors = results
      .filter((r) => r.id === a)
      .map((r) => {
        const other = results.find((o) => o.round === r.round && o.id === b);
        return other && other.reqPerSec > 0 ? r.reqPerSec / other.reqPerSec : undefined;
      })
      .filter((x) => x !== undefined);
    const cpuA = summary.find((s) => s.id === a)?.medianCpuUsPerReq;
    const cpuB = summary.find((s) => s.id === b)?.medianCpuUsPerReq;
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
      connections: connectionCounts,
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
