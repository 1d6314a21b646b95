// The demo's guard for its native SQLite addon (scripts/sqlite-addon.mjs): under whichever
// Node.js runs the tests (20 from Debian, 22 and 24 from the npm registry's `node` package), the
// running Node.js's own headers are found beside it, and the addon loads.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module of the repository's scripts, without types
import { ownHeaders, sqliteLoads } from '../../../scripts/sqlite-addon.mjs';

const root = fileURLToPath(new URL('../../..', import.meta.url));

describe('the demo’s SQLite addon guard', () => {
  it(`finds the headers of this Node.js (${process.version}) to rebuild the addon with`, () => {
    const headers = (ownHeaders as () => string | undefined)();
    expect(headers, `no include/node beside ${process.execPath}`).toBeDefined();
    const version = readFileSync(join(headers!, 'include', 'node', 'node_version.h'), 'utf8');
    expect(/#define NODE_MAJOR_VERSION (\d+)/.exec(version)?.[1]).toBe(
      process.versions.node.split('.')[0],
    );
  });

  it('loads better-sqlite3 under this Node.js', () => {
    const result = (sqliteLoads as (dir: string) => { ok: boolean; error: string })(
      join(root, 'apps', 'api'),
    );
    expect(result.ok, result.error).toBe(true);
  });
});
