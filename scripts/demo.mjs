// `pnpm demo`: starts the demo API and worker on one SQLite file, prints where to look, and
// stops both cleanly on Ctrl-C.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dataDir = process.env.DATA_DIR ?? join(root, 'apps', 'api', 'data');
mkdirSync(dataDir, { recursive: true });
const apiPort = process.env.PORT ?? '3000';
const opsPort = process.env.OPS_PORT ?? '3001';

function start(name, dir, env) {
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: join(root, 'apps', dir),
    env: { ...process.env, DATA_DIR: dataDir, DRAIN_DELAY_MS: '500', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.stdout.on('data', (chunk) => {
    if (process.env.DEMO_LOGS === '1') process.stdout.write(`[${name}] ${chunk}`);
  });
  return child;
}

const api = start('api', 'api', { PORT: apiPort });
const worker = start('worker', 'worker', { OPS_PORT: opsPort });
const children = [api, worker];

async function waitFor(url) {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer`);
}

try {
  await Promise.all([
    waitFor(`http://127.0.0.1:${apiPort}/health/live`),
    waitFor(`http://127.0.0.1:${opsPort}/health/live`),
  ]);
} catch (error) {
  console.error(String(error));
  for (const child of children) child.kill('SIGTERM');
  process.exit(1);
}

const api$ = `http://127.0.0.1:${apiPort}`;
const ops$ = `http://127.0.0.1:${opsPort}`;
console.log(`
obskit demo is running (data in ${dataDir})

  API             ${api$}          (GET /jobs, GET /users/42, GET /fail)
  API metrics     ${api$}/metrics
  API health      ${api$}/health/ready   /health/live   /health/startup
  worker metrics  ${ops$}/metrics
  worker health   ${ops$}/health/ready   /health/live

  try:  curl -i -X POST ${api$}/jobs -H 'content-type: application/json' -d '{"type":"email","payload":{"to":"ada@example.com"}}'
        curl ${api$}/jobs/1

  logs: DEMO_LOGS=1 pnpm demo       stop: Ctrl-C
`);

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  console.log(
    `\n${signal}: stopping the API and the worker (they drain and finish the job in hand)…`,
  );
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
}
process.on('SIGINT', () => stop('SIGINT'));
process.on('SIGTERM', () => stop('SIGTERM'));
let exited = 0;
for (const child of children) {
  child.on('exit', (code) => {
    exited++;
    if (!stopping) stop(`a process exited (${code})`);
    if (exited === children.length) {
      console.log('stopped');
      process.exit(0);
    }
  });
}
