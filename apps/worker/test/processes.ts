import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const appsDir = fileURLToPath(new URL('../..', import.meta.url));

export interface Service {
  name: string;
  child: ChildProcess;
  url: string;
  lines(): Record<string, unknown>[];
  exited: Promise<number | null>;
}

const started: Service[] = [];

/** Kills (by PID) whatever a test started and left running. */
export function killAll(): void {
  for (const s of started.splice(0)) {
    if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  }
}

/** Starts `apps/<app>/dist/main.js` on a free port and waits for its "listening" log line. */
export async function startApp(
  app: 'api' | 'worker',
  env: Record<string, string>,
): Promise<Service> {
  const child = spawn(process.execPath, ['dist/main.js'], {
    cwd: `${appsDir}/${app}`,
    env: {
      ...process.env,
      PORT: '0',
      OPS_PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      OBSKIT_DRAIN_DELAY_MS: '100',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
  const lines = (): Record<string, unknown>[] =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const port = await new Promise<number>((resolve, reject) => {
    const deadline = setTimeout(
      () => reject(new Error(`${app} did not start:\n${out}\n${err}`)),
      15_000,
    );
    const poll = setInterval(() => {
      const line = lines().find(
        (l) => l.msg === 'api listening' || l.msg === 'worker ops server listening',
      );
      if (line) {
        clearInterval(poll);
        clearTimeout(deadline);
        resolve(line.port as number);
      } else if (child.exitCode !== null) {
        clearInterval(poll);
        clearTimeout(deadline);
        reject(new Error(`${app} exited with ${child.exitCode}:\n${out}\n${err}`));
      }
    }, 20);
  });
  const service = { name: app, child, url: `http://127.0.0.1:${port}`, lines, exited };
  started.push(service);
  return service;
}

export { otlpReceiver, type OtlpSpan } from '@obskit/test-support';

export async function postJob(
  api: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${api}/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}
