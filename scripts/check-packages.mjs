// Checks every published package as a user receives it: publint --strict on the package folder
// and are-the-types-wrong on the packed tarball (ESM and CommonJS consumers, types for both).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const packagesDir = join(root, 'packages');
const bin = (name) => join(root, 'node_modules', '.bin', name);

let failed = 0;
for (const dir of readdirSync(packagesDir).sort()) {
  const folder = join(packagesDir, dir);
  const pkg = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8'));
  if (pkg.private) continue;
  // A plain file export (the web-vitals bundle for a <script> tag) is not a module to type.
  const scripts = Object.entries(pkg.exports ?? {})
    .filter(([key, target]) => typeof target === 'string' && key !== './package.json')
    .map(([key]) => key);
  const attw = ['--pack', '.', '--profile', 'node16', '--format', 'ascii'];
  if (scripts.length > 0) attw.push('--exclude-entrypoints', ...scripts);
  for (const [tool, args] of [
    ['publint', ['--strict']],
    ['attw', attw],
  ]) {
    const run = spawnSync(bin(tool), args, { cwd: folder, encoding: 'utf8' });
    const ok = run.status === 0;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${tool} ${pkg.name}`);
    if (!ok) {
      failed++;
      process.stdout.write(run.stdout ?? '');
      process.stdout.write(run.stderr ?? '');
    }
  }
}
if (failed > 0) {
  console.error(`${failed} package check(s) failed`);
  process.exit(1);
}
