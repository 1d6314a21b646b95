// The Debian tools the test suite runs: promtool and prometheus (package `prometheus`) for real
// /metrics output and the alert rules, amtool (`prometheus-alertmanager`) for the Alertmanager
// configuration, and Chromium (`chromium`) for the browser web-vitals test. On a fresh machine
// where we are root with apt-get, install what is missing; otherwise say what to install.
import { spawnSync } from 'node:child_process';

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

const tools = [
  { command: 'promtool', pkg: 'prometheus' },
  { command: 'prometheus', pkg: 'prometheus' },
  { command: 'amtool', pkg: 'prometheus-alertmanager' },
  { command: 'chromium', pkg: 'chromium' },
];
const missing = [...new Set(tools.filter((t) => !has(t.command)).map((t) => t.pkg))];

if (missing.length > 0) {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (root && has('apt-get')) {
    console.log(`installing the Debian packages ${missing.join(', ')} for the tests`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    for (const args of [
      ['update', '-qq'],
      ['install', '-y', '-qq', '--no-install-recommends', ...missing],
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
    console.error(`the tests need the Debian packages: apt-get install ${missing.join(' ')}`);
    process.exit(1);
  }
}
