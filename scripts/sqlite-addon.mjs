// The demo's SQLite store is better-sqlite3, a native addon built for one Node.js ABI. A clone
// installed under one Node.js (npm builds it against that Node's headers) and run under another
// fails with ERR_DLOPEN_FAILED / NODE_MODULE_VERSION. `ensureSqliteAddon()` loads it under the
// running Node.js and, when it was built for another, rebuilds it against the running Node.js's
// own headers (nothing downloaded), saying so.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Whether better-sqlite3 loads (and opens a database) under this Node.js, from `dir`. */
export function sqliteLoads(dir) {
  const probe = spawnSync(
    process.execPath,
    ['-e', "new (require('better-sqlite3'))(':memory:').close()"],
    { cwd: dir, encoding: 'utf8' },
  );
  return { ok: probe.status === 0, error: probe.stderr };
}

/**
 * The folder with this Node.js's own headers (`include/node/node_version.h` of the same major
 * version), beside its binary as official builds and distributions lay it out (`/usr`), or in the
 * platform package of the npm registry's `node` package; undefined when there is none.
 */
export function ownHeaders() {
  const prefix = dirname(dirname(process.execPath));
  const candidates = [
    prefix,
    join(prefix, 'node_modules', `node-${process.platform}-${process.arch}`),
  ];
  for (const candidate of candidates) {
    const version = join(candidate, 'include', 'node', 'node_version.h');
    if (!existsSync(version)) continue;
    const major = /#define NODE_MAJOR_VERSION (\d+)/.exec(readFileSync(version, 'utf8'))?.[1];
    if (major === process.versions.node.split('.')[0]) return candidate;
  }
  return undefined;
}

/** Loads better-sqlite3 from `dir`, rebuilding it for this Node.js first when it must. */
export function ensureSqliteAddon(root, dir, say = (line) => process.stdout.write(`${line}\n`)) {
  const first = sqliteLoads(dir);
  if (first.ok) return;
  if (!/NODE_MODULE_VERSION|ERR_DLOPEN_FAILED|invalid ELF|wrong ELF/.test(first.error)) {
    throw new Error(`better-sqlite3 does not load: ${first.error.trim()}`);
  }
  const headers = ownHeaders();
  if (headers === undefined) {
    throw new Error(
      `better-sqlite3 was built for another Node.js than ${process.version}, and this Node.js has no headers beside it to rebuild it with: run \`npm_config_nodedir=<this Node's folder> pnpm rebuild -r better-sqlite3\` under it, or start the demo with the Node.js you installed with`,
    );
  }
  say(
    `demo: better-sqlite3 was built for another Node.js; rebuilding it for ${process.version} with its own headers (${headers}), once…`,
  );
  const rebuild = spawnSync('npx', ['-y', 'pnpm@10.34.8', 'rebuild', '-r', 'better-sqlite3'], {
    cwd: root,
    encoding: 'utf8',
    env: {
      ...process.env,
      npm_config_nodedir: headers,
      // node-gyp builds for the `node` it finds first.
      PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
    },
  });
  const again = sqliteLoads(dir);
  if (rebuild.status !== 0 || !again.ok) {
    throw new Error(
      `rebuilding better-sqlite3 for ${process.version} failed:\n${rebuild.stdout}${rebuild.stderr}${again.error}`,
    );
  }
  say('demo: better-sqlite3 rebuilt');
}
