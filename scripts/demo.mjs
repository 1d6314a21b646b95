// `pnpm demo`: starts the demo API and worker on one SQLite file (on PostgreSQL + BullMQ when
// DATABASE_URL and REDIS_URL are set), prints where to look, shows
// their logs line by line with an [api]/[worker] prefix, and stops both cleanly on Ctrl-C, on
// SIGTERM (what a process manager sends), or when whatever started it goes away.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ensureSqliteAddon } from './sqlite-addon.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const dataDir = process.env.DATA_DIR ?? join(root, 'apps', 'api', 'data');
const host = process.env.HOST ?? '127.0.0.1';
const apiPort = Number(process.env.PORT ?? 3000);
const opsPort = Number(process.env.OPS_PORT ?? 3001);
const showLogs = process.env.DEMO_LOGS !== '0';
const demoCommand = 'npm run demo';

function fail(message) {
  process.stderr.write(`demo: ${message}\n`);
  process.exit(1);
}

/** Resolves when `port` on `host` can be listened on; rejects with the reason otherwise. */
function portFree(port) {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(port, host, () => probe.close(() => resolve()));
  });
}

for (const [port, what, variable] of [
  [apiPort, 'the API', 'PORT'],
  [opsPort, "the worker's ops server", 'OPS_PORT'],
]) {
  try {
    await portFree(port);
  } catch (error) {
    if (error.code === 'EADDRINUSE') {
      fail(
        `port ${port} (${what}) is in use on ${host}: stop what listens there, or choose another port with ${variable}=…`,
      );
    }
    fail(`cannot listen on ${host}:${port} for ${what}: ${error.message}`);
  }
}
mkdirSync(dataDir, { recursive: true });
// The embedded store (no DATABASE_URL) is a native addon: built for this Node.js, or rebuilt.
if (!process.env.DATABASE_URL) {
  try {
    ensureSqliteAddon(root, join(root, 'apps', 'api'));
  } catch (error) {
    fail(error.message);
  }
}

function prefixed(stream, name, out) {
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
    if (showLogs) out.write(`[${name}] ${line}\n`);
  });
}

function start(name, dir, env) {
  // A process group of its own: Ctrl-C in the terminal reaches this script only, which then
  // sends each app exactly one SIGTERM.
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: join(root, 'apps', dir),
    env: { ...process.env, DATA_DIR: dataDir, OBSKIT_DRAIN_DELAY_MS: '500', HOST: host, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  prefixed(child.stdout, name, process.stdout);
  prefixed(child.stderr, name, process.stderr);
  return { name, child };
}

const apps = [
  start('api', 'api', { PORT: String(apiPort) }),
  start('worker', 'worker', { OPS_PORT: String(opsPort) }),
];

let stopping = false;
let failed = false;
function stop(reason) {
  if (stopping) return;
  stopping = true;
  process.stdout.write(
    `\n${reason}: stopping the API and the worker (they drain and finish the job in hand)…\n`,
  );
  for (const { child } of apps)
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
}

let exited = 0;
for (const { name, child } of apps) {
  child.on('exit', (code, signal) => {
    exited++;
    if (!stopping) {
      failed = true;
      stop(`${name} exited (${signal ?? code})`);
    }
    if (exited === apps.length) {
      process.stdout.write('stopped\n');
      process.exit(failed ? 1 : 0);
    }
  });
}
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGHUP', () => stop('SIGHUP'));
// Started through a chain of launchers (npx, pnpm, sh) of which a process manager signals only the
// top one, and none passes the signal on: when any process above this one goes away, the demo
// stops rather than leave the apps running. The chain is read from /proc (Linux); elsewhere only
// the direct parent is watched.
function parentOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}
const ancestors = [];
for (let pid = process.ppid; pid > 1 && ancestors.length < 32;) {
  const up = parentOf(pid);
  ancestors.push([pid, up]);
  if (up === undefined) break;
  pid = up;
}
setInterval(() => {
  const gone =
    process.ppid !== ancestors[0]?.[0] ||
    ancestors.some(([pid, up]) => up !== undefined && parentOf(pid) !== up);
  if (gone) stop('the process that started the demo is gone');
}, 500).unref();

async function answers(url) {
  for (let i = 0; i < 150 && !stopping; i++) {
    try {
      if ((await fetch(url)).status === 200) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

const shown = host === '0.0.0.0' ? '127.0.0.1' : host;
const api$ = `http://${shown}:${apiPort}`;
const ops$ = `http://${shown}:${opsPort}`;
const ready = await Promise.all([
  answers(`${api$}/health/startup`),
  answers(`${ops$}/health/startup`),
]);
if (!ready.every(Boolean)) {
  if (!stopping) {
    failed = true;
    stop('the demo did not start within 15 s');
  }
} else {
  const where =
    process.env.DATABASE_URL && process.env.REDIS_URL
      ? 'jobs in PostgreSQL, queued on BullMQ'
      : `data in ${dataDir}`;
  process.stdout.write(`
obskit demo is running (${where})

  API             ${api$}          (GET /jobs, GET /users/42, GET /fail)
  API metrics     ${api$}/metrics
  API health      ${api$}/health/ready   /health/live   /health/startup
  worker metrics  ${ops$}/metrics
  worker health   ${ops$}/health/ready   /health/live

  try:  curl -i -X POST ${api$}/jobs -H 'content-type: application/json' -d '{"type":"email","payload":{"to":"ada@example.com"}}'
        curl ${api$}/jobs/1

  quiet: DEMO_LOGS=0 ${demoCommand}       stop: Ctrl-C
`);
}
