import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { optionObject, optionString } from './options.js';

/** Who is logging, tracing and answering probes: the same three values everywhere. */
export interface ServiceIdentity {
  service: string;
  version: string;
  env: string;
}

export interface ServiceIdentityOptions {
  service?: string;
  version?: string;
  env?: string;
}

interface AppPackage {
  name?: string;
  version?: string;
}

let appPackage: AppPackage | undefined;

function readPackage(file: string): AppPackage | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (parsed === null || typeof parsed !== 'object') return undefined;
    const { name, version } = parsed as Record<string, unknown>;
    return {
      ...(typeof name === 'string' && name !== '' ? { name } : {}),
      ...(typeof version === 'string' && version !== '' ? { version } : {}),
    };
  } catch {
    return undefined;
  }
}

function nearestPackage(start: string): AppPackage | undefined {
  let dir = start;
  for (;;) {
    // A package.json inside node_modules belongs to a tool (a test runner, a process manager
    // started through npx), not to the application.
    if (!dir.split(sep).includes('node_modules')) {
      const file = join(dir, 'package.json');
      if (existsSync(file)) return readPackage(file);
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/**
 * The application's own package.json: the nearest one above the main script
 * (`node dist/main.js` reads the package that holds `dist/`), else above the working
 * directory. Read once per process.
 */
export function applicationPackage(): AppPackage {
  if (appPackage !== undefined) return appPackage;
  let found: AppPackage | undefined;
  const main = process.argv[1];
  if (main !== undefined && main !== '') {
    try {
      found = nearestPackage(dirname(realpathSync(main)));
    } catch {
      found = undefined;
    }
  }
  appPackage = found ?? nearestPackage(process.cwd()) ?? {};
  return appPackage;
}

/** `OTEL_RESOURCE_ATTRIBUTES` as key/value pairs (percent-decoded; malformed pairs skipped). */
export function resourceAttributesFromEnv(
  value: string | undefined = process.env.OTEL_RESOURCE_ATTRIBUTES,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (!value) return out;
  for (const pair of value.split(',')) {
    const i = pair.indexOf('=');
    if (i <= 0) continue;
    try {
      const key = decodeURIComponent(pair.slice(0, i).trim());
      if (key !== '') out[key] = decodeURIComponent(pair.slice(i + 1).trim());
    } catch {
      // A malformed pair is skipped, as the OpenTelemetry specification asks.
    }
  }
  return out;
}

/**
 * Resolves the service's name, version and environment once, for the logger, tracing, health
 * and the umbrella alike. Each value is the option when given, else the environment, else the
 * application's package.json, else a fixed fallback:
 *
 * - `service`: `OTEL_SERVICE_NAME`, `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, the package
 *   name, `unknown_service`;
 * - `version`: `service.version` in `OTEL_RESOURCE_ATTRIBUTES`, the package version, `0.0.0`;
 * - `env`: `deployment.environment.name` in `OTEL_RESOURCE_ATTRIBUTES`, `NODE_ENV`,
 *   `development`.
 *
 * `path` names the options in error messages (`logger.service must be …`).
 */
export function serviceIdentity(
  options: ServiceIdentityOptions = {},
  path = 'service',
): ServiceIdentity {
  optionObject(options, path);
  const env = process.env;
  const resource = resourceAttributesFromEnv(env.OTEL_RESOURCE_ATTRIBUTES);
  const service =
    optionString(options.service, `${path}.service`) ??
    (env.OTEL_SERVICE_NAME || resource['service.name'] || undefined) ??
    applicationPackage().name ??
    'unknown_service';
  const version =
    optionString(options.version, `${path}.version`) ??
    (resource['service.version'] || undefined) ??
    applicationPackage().version ??
    '0.0.0';
  const environment =
    optionString(options.env, `${path}.env`) ??
    (resource['deployment.environment.name'] || env.NODE_ENV || undefined) ??
    'development';
  return { service, version, env: environment };
}
