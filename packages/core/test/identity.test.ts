import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { resourceAttributesFromEnv, serviceIdentity } from '../src/internal.js';

const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));

/** An application folder with its own package.json and a built main script, as deployed. */
function application(pkg: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'obskit-identity-'));
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg));
  mkdirSync(join(dir, 'dist'));
  writeFileSync(
    join(dir, 'dist', 'main.mjs'),
    `const core = await import(${JSON.stringify(dist)});
     process.stdout.write(JSON.stringify(core.serviceIdentity()));`,
  );
  return dir;
}

/** Runs `node dist/main.mjs` from another folder, without npm's variables. */
function run(dir: string, env: Record<string, string> = {}): Promise<Record<string, string>> {
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith('npm_') && !k.startsWith('OTEL_') && k !== 'NODE_ENV')
      clean[k] = v;
  }
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [join(dir, 'dist', 'main.mjs')],
      { cwd: tmpdir(), env: { ...clean, ...env }, timeout: 15_000 },
      (error, stdout, stderr) =>
        error ? reject(new Error(stderr || error.message)) : resolve(JSON.parse(stdout)),
    );
  });
}

describe('serviceIdentity', () => {
  it("takes the name and version from the application's package.json under node dist/main.js", async () => {
    const dir = application({ name: 'orders', version: '1.4.0' });
    expect(await run(dir)).toEqual({ service: 'orders', version: '1.4.0', env: 'development' });
  });

  it('lets the environment win over the package, and OTEL_SERVICE_NAME over resource attributes', async () => {
    const dir = application({ name: 'orders', version: '1.4.0' });
    expect(
      await run(dir, {
        OTEL_RESOURCE_ATTRIBUTES:
          'service.name=from-resource,service.version=2.0.0,deployment.environment.name=staging',
        NODE_ENV: 'production',
      }),
    ).toEqual({ service: 'from-resource', version: '2.0.0', env: 'staging' });
    expect(await run(dir, { OTEL_SERVICE_NAME: 'from-env', NODE_ENV: 'production' })).toEqual({
      service: 'from-env',
      version: '1.4.0',
      env: 'production',
    });
  });

  it('falls back to fixed values without a package.json name or version', async () => {
    const dir = application({});
    expect(await run(dir)).toEqual({
      service: 'unknown_service',
      version: '0.0.0',
      env: 'development',
    });
  });

  it('lets options win and rejects bad ones with coded errors', () => {
    expect(serviceIdentity({ service: 'a', version: '9.9.9', env: 'qa' })).toEqual({
      service: 'a',
      version: '9.9.9',
      env: 'qa',
    });
    expect(() => serviceIdentity({ version: 1 as unknown as string }, 'tracing')).toThrow(
      'OBSKIT_ERR_INVALID_OPTION: tracing.version must be a non-empty string, got 1',
    );
  });

  it('reads OTEL_RESOURCE_ATTRIBUTES percent-decoded, skipping malformed pairs', () => {
    expect(resourceAttributesFromEnv('a=1,b=x%2Cy, c = 3 ,=nokey,novalue,d=%E0%A4%A')).toEqual({
      a: '1',
      b: 'x,y',
      c: '3',
    });
  });
});
