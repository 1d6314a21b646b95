// The test suite checks real /metrics output with promtool (Debian package `prometheus`). On a
// fresh machine where we are root with apt-get, install it; otherwise say what is missing.
import { spawnSync } from 'node:child_process';

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

if (!has('promtool')) {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (root && has('apt-get')) {
    console.log('promtool not found: installing the Debian package prometheus');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const args of [['update'], ['install', '-y', '--no-install-recommends', 'prometheus']]) {
      const run = spawnSync('apt-get', args, { stdio: 'inherit', env });
      if (run.status !== 0) {
        console.error(`apt-get ${args.join(' ')} failed (exit ${run.status})`);
        process.exit(1);
      }
    }
  } else {
    console.error(
      'promtool is needed by the metrics tests: install the Debian package "prometheus" (apt-get install prometheus)',
    );
    process.exit(1);
  }
}
