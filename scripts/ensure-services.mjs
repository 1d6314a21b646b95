// The local servers the tests talk to: PostgreSQL (127.0.0.1:5432, trust auth, database `test`),
// Redis (127.0.0.1:6379), RabbitMQ (127.0.0.1:5672, guest/guest) and NATS with JetStream
// (127.0.0.1:4222). Started where they are installed but not running; installed from
// Debian's packages first where they are missing and we are root with apt-get. A machine that can
// do neither gets a message saying how, and the tests that need a server fail saying the same.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';

const quiet = { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' };
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], quiet).status === 0;
const root = typeof process.getuid === 'function' && process.getuid() === 0;

function reachable(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

async function waitReachable(port, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await reachable(port)) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

function run(cmd, args, what) {
  const result = spawnSync(cmd, args, {
    ...quiet,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.status !== 0) {
    process.stderr.write(
      `${what} failed (exit ${result.status}):\n${result.stdout}${result.stderr}\n`,
    );
    process.exit(1);
  }
  return result.stdout;
}

let aptUpdated = false;
function aptInstall(...packages) {
  if (!root || !has('apt-get')) return false;
  if (!aptUpdated) {
    run('apt-get', ['update', '-qq'], 'apt-get update');
    aptUpdated = true;
  }
  run(
    'apt-get',
    ['install', '-y', '-qq', '--no-install-recommends', ...packages],
    `apt-get install ${packages.join(' ')}`,
  );
  return true;
}

const services = [
  {
    name: 'PostgreSQL',
    port: 5432,
    packages: ['postgresql'],
    installed: () => existsSync('/etc/postgresql') && has('pg_ctlcluster'),
    // A fresh install asks for passwords on 127.0.0.1; the tests connect with trust auth there.
    configure() {
      for (const version of readdirSync('/etc/postgresql')) {
        const file = `/etc/postgresql/${version}/main/pg_hba.conf`;
        const text = readFileSync(file, 'utf8').replace(
          /^(host\s+all\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+)\S+/gm,
          '$1trust',
        );
        writeFileSync(file, text);
      }
    },
    start() {
      for (const version of readdirSync('/etc/postgresql')) {
        run(
          'pg_ctlcluster',
          ['--skip-systemctl-redirect', version, 'main', 'start'],
          'pg_ctlcluster start',
        );
      }
    },
    async prepare() {
      // The tests use trust auth on 127.0.0.1 and a database named `test`.
      const psql = (sql) =>
        spawnSync('su', ['postgres', '-c', `psql -h 127.0.0.1 -tAc "${sql}"`], quiet);
      const exists = psql("SELECT 1 FROM pg_database WHERE datname = 'test'");
      if (exists.status === 0 && exists.stdout.trim() === '1') return;
      const created = spawnSync('su', ['postgres', '-c', 'createdb -h 127.0.0.1 test'], quiet);
      if (created.status !== 0 && !/already exists/.test(created.stderr)) {
        process.stderr.write(
          `creating the PostgreSQL database "test" failed:\n${created.stderr}\n`,
        );
      }
    },
    hint: 'apt-get install postgresql, then pg_ctlcluster <version> main start (trust auth on 127.0.0.1, database "test")',
  },
  {
    name: 'Redis',
    port: 6379,
    packages: ['redis-server'],
    installed: () => has('redis-server'),
    start() {
      run(
        'redis-server',
        [
          '--daemonize',
          'yes',
          '--bind',
          '127.0.0.1',
          '--port',
          '6379',
          '--save',
          '',
          '--appendonly',
          'no',
        ],
        'redis-server',
      );
    },
    async prepare() {},
    hint: 'apt-get install redis-server, then redis-server --daemonize yes --bind 127.0.0.1',
  },
  {
    name: 'RabbitMQ',
    port: 5672,
    packages: ['rabbitmq-server'],
    installed: () => has('rabbitmq-server'),
    // The broker takes some seconds to boot; the default guest/guest user may log in from 127.0.0.1.
    start() {
      run('rabbitmq-server', ['-detached'], 'rabbitmq-server -detached');
    },
    async prepare() {},
    hint: 'apt-get install rabbitmq-server, then rabbitmq-server -detached (guest/guest on 127.0.0.1:5672)',
  },
  {
    name: 'NATS',
    port: 4222,
    packages: ['nats-server'],
    installed: () => has('nats-server'),
    // JetStream on (`-js`), its store in a folder of its own.
    start() {
      mkdirSync('/var/lib/nats-server', { recursive: true });
      run(
        'start-stop-daemon',
        [
          '--start',
          '--oknodo',
          '--background',
          '--exec',
          '/usr/sbin/nats-server',
          '--',
          '-a',
          '127.0.0.1',
          '-p',
          '4222',
          '-js',
          '-sd',
          '/var/lib/nats-server',
        ],
        'nats-server',
      );
    },
    async prepare() {},
    hint: 'apt-get install nats-server, then nats-server -a 127.0.0.1 -p 4222 -js',
  },
];

let missing = 0;
for (const service of services) {
  if (await reachable(service.port)) {
    if (root) await service.prepare();
    continue;
  }
  if (!service.installed()) {
    console.log(
      `${service.name} is not installed: installing the Debian package ${service.packages.join(' ')}`,
    );
    if (!aptInstall(...service.packages)) {
      console.error(`${service.name} is needed by the tests: ${service.hint}`);
      missing++;
      continue;
    }
    service.configure?.();
  }
  console.log(`${service.name} is not running on 127.0.0.1:${service.port}: starting it`);
  service.start();
  if (!(await waitReachable(service.port))) {
    console.error(`${service.name} did not come up on 127.0.0.1:${service.port}: ${service.hint}`);
    missing++;
    continue;
  }
  if (root) await service.prepare();
}
if (missing > 0) process.exit(1);
