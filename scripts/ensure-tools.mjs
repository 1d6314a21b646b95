// The test suite checks real /metrics output with promtool and runs Prometheus (Debian package
// `prometheus`), and checks the Alertmanager configuration with amtool (`prometheus-alertmanager`).
// On a fresh machine where we are root with apt-get, install them; otherwise say what is missing.
import { spawnSync } from 'node:child_process';

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

if (!has('promtool') || !has('amtool')) {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (root && has('apt-get')) {
    console.log(
      'promtool or amtool not found: installing the Debian packages prometheus and prometheus-alertmanager',
    );
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const args of [
      ['update', '-qq'],
      ['install', '-y', '-qq', '--no-install-recommends', 'prometheus', 'prometheus-alertmanager'],
    ]) {
      // apt's own output is shown only when it fails.
      const run = spawnSync('apt-get', args, {
        stdio: ['ignore', 'pipe', 'pipe'],
        env,
        encoding: 'utf8',
      });
      if (run.status !== 0) {
        console.error(
          `apt-get ${args.join(' ')} failed (exit ${run.status}):\n${run.stdout}${run.stderr}`,
        );
        process.exit(1);
      }
    }
  } else {
    console.error(
      'promtool and amtool are needed by the tests: apt-get install prometheus prometheus-alertmanager',
    );
    process.exit(1);
  }
}
