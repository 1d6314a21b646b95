// Instructions per request, counted by valgrind's callgrind: the same figure whatever else the
// machine is doing, unlike req/s here. Each configuration's server runs twice under callgrind,
// once for N1 and once for N2 requests (4 connections, the two routes of run.mjs, no warm-up
// round); the difference of the two totals over N2 − N1 is the cost of one request once the
// server is warm, start-up and shutdown cancelling out. Both runs of a configuration go at once,
// one per core. Needs `valgrind` (Debian package valgrind).
//
// Usage: node instructions.mjs [--requests N1,N2] <configuration> [<configuration> …]
// Prints one line per configuration: instructions per request, and the part spent in the garbage
// collector (which moves with allocation and with when collections fall).
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';

const here = dirname(fileURLToPath(import.meta.url));
const usage = 'Usage: node instructions.mjs [--requests N1,N2] <configuration> [<configuration> …]';
const { values, positionals } = parseArgs({
  options: { requests: { type: 'string', default: '20000,40000' } },
  allowPositionals: true,
});
const counts = values.requests.split(',').map(Number);
if (
  counts.length !== 2 ||
  !counts.every((n) => Number.isInteger(n) && n > 0) ||
  counts[0] >= counts[1]
) {
  console.error(
    `--requests must be two whole numbers N1,N2 with N1 < N2, got "${values.requests}"\n${usage}`,
  );
  process.exit(2);
}
if (positionals.length === 0) {
  console.error(usage);
  process.exit(2);
}
if (spawnSync('valgrind', ['--version']).status !== 0) {
  console.error('valgrind is not installed (apt-get install valgrind)');
  process.exit(2);
}

// Functions of V8's garbage collector, as callgrind_annotate names them.
const gcFunction =
  /Scaveng|Sweep|Evacuat|Marking|MarkCompact|IterateObjectCache|RootScavengeVisitor|LiveObjectRange|BodyDescriptor|RecordMigrated|SizeFromMap|FreeList|ConcurrentMarking|RememberedSet/;

async function count(name, requests) {
  const dir = mkdtempSync(join(tmpdir(), 'obskit-instr-'));
  const out = join(dir, 'callgrind.out');
  const server = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--vgdb=no',
      // V8 writes machine code at run time; callgrind must see it change.
      '--smc-check=all-non-file',
      `--callgrind-out-file=${out}`,
      process.execPath,
      // One thread: V8's background compiler and GC threads would make the count vary.
      '--single-threaded',
      join(here, 'servers', `${name}.mjs`),
    ],
    {
      cwd: here,
      env: { ...process.env, NODE_ENV: 'production', PORT: '0', HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  server.stdout.on('data', (chunk) => (stdout += chunk));
  server.stderr.resume();
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${name} did not start within 120 s`)),
      120_000,
    );
    server.stdout.on('data', () => {
      const match = /LISTENING (\d+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    server.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before listening`));
    });
  });
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: 4,
    amount: requests,
    timeout: 60,
    requests: [
      { method: 'GET', path: '/' },
      { method: 'GET', path: '/users/42' },
    ],
  });
  const exited = once(server, 'exit');
  server.kill('SIGTERM');
  await exited;
  if (result.requests.total !== requests || result.non2xx !== 0 || result.errors !== 0) {
    throw new Error(
      `${name}: ${result.requests.total} of ${requests} requests answered, ${result.non2xx} non-2xx, ${result.errors} errors`,
    );
  }
  const annotated = spawnSync('callgrind_annotate', ['--threshold=100', out], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  rmSync(dir, { recursive: true, force: true });
  let total = 0;
  let gc = 0;
  for (const line of annotated.stdout.split('\n')) {
    const row = /^\s*([\d,]+) \([^)]*\)\s+(.*)$/.exec(line);
    if (!row || row[2].startsWith('PROGRAM')) continue;
    const n = Number(row[1].replaceAll(',', ''));
    total += n;
    if (gcFunction.test(row[2])) gc += n;
  }
  return { total, gc };
}

console.log(
  `instructions per request, ${counts[1]} − ${counts[0]} requests, Node ${process.version}`,
);
for (const name of positionals) {
  const [a, b] = await Promise.all(counts.map((n) => count(name, n)));
  const n = counts[1] - counts[0];
  const perRequest = Math.round((b.total - a.total) / n);
  const gcPerRequest = Math.round((b.gc - a.gc) / n);
  console.log(`${name.padEnd(30)} ${String(perRequest).padStart(8)}  (GC ${gcPerRequest})`);
}
