import { createRequire } from 'node:module';
import pino from 'pino';
import type { DestinationStream, Logger, LoggerOptions as PinoOptions } from 'pino';
import { enableRequestContext, getRequestContext } from './context.js';
import { logDestination } from './destination.js';
import { invalidOption } from './errors.js';
import { optionBoolean, optionObject, optionString } from './options.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** `service` field of every line. Default: `OTEL_SERVICE_NAME`, else `npm_package_name`, else `unknown_service`. */
  service?: string;
  /** `env` field. Default: `NODE_ENV`, else `development`. */
  env?: string;
  /** `version` field. Default: `npm_package_version`, else `0.0.0`. */
  version?: string;
  /** Minimum level. Default: `LOG_LEVEL`, else `info`. */
  level?: string;
  /** Human-readable output through pino-pretty. Default: `LOG_FORMAT=pretty`. */
  pretty?: boolean;
  /** Extra paths to redact, added to the defaults (authorization, cookie, set-cookie). */
  redact?: string[];
  /**
   * Where lines go. Default: standard output through `logDestination()`, which writes the lines
   * of one event-loop turn at once.
   */
  destination?: DestinationStream;
  /** Extra fields for every line. */
  base?: Record<string, unknown>;
  /** Anything else pino accepts; obskit's own settings win where both are given. */
  pino?: PinoOptions;
}

/** Paths redacted by default: credentials in request and response headers. */
export const DEFAULT_REDACT_PATHS: readonly string[] = Object.freeze([
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["set-cookie"]',
]);

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const chindingsSym = pino.symbols.chindingsSym;

// Loggers whose bindings already hold `reqId` (Fastify's request.log): the mixin leaves it out
// there so no line carries the key twice. Keyed by the bindings string, which pino keeps per child.
function bindsReqId(logger: Logger): boolean {
  const chindings = (logger as unknown as Record<symbol, string | undefined>)[chindingsSym];
  return chindings !== undefined && chindings.includes('"reqId":');
}

function contextMixin(_merge: object, _level: number, logger: Logger): object {
  const context = getRequestContext();
  if (context === undefined) return {};
  const reqId = context.reqId !== undefined && !bindsReqId(logger) ? context.reqId : undefined;
  // One literal per common case, so each line's fields start in their final shape.
  let fields: Record<string, unknown>;
  if (context.traceId === undefined) fields = reqId === undefined ? {} : { reqId };
  else if (reqId === undefined) {
    fields = {
      trace_id: context.traceId,
      span_id: context.spanId,
      trace_flags: context.traceFlags,
    };
  } else {
    fields = {
      reqId,
      trace_id: context.traceId,
      span_id: context.spanId,
      trace_flags: context.traceFlags,
    };
  }
  return context.bindings === undefined ? fields : { ...context.bindings, ...fields };
}

// pino's isoTime formats a Date per line; lines of one millisecond share one string here.
let timeMs = Number.NaN;
let timeField = '';
function isoTime(): string {
  const now = Date.now();
  if (now !== timeMs) {
    timeMs = now;
    timeField = `,"time":"${new Date(now).toISOString()}"`;
  }
  return timeField;
}

function prettyStream(): DestinationStream | undefined {
  try {
    const require = createRequire(import.meta.url);
    const pretty = require('pino-pretty') as (options?: object) => DestinationStream;
    return pretty({ translateTime: 'SYS:HH:MM:ss.l', ignore: 'service,env,version' });
  } catch {
    process.emitWarning('LOG_FORMAT=pretty needs the pino-pretty package; writing JSON instead', {
      code: 'OBSKIT_WARN_NO_PINO_PRETTY',
    });
    return undefined;
  }
}

/**
 * A pino logger that writes obskit's log vocabulary: ISO `time`, `level` as a label, `service`,
 * `env`, `version`, and, inside a request, `reqId`, `trace_id`, `span_id` and `trace_flags` from
 * the request context. Works as Fastify's `loggerInstance` and as pino-http's `logger`.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  optionObject(options, 'logger');
  const env = process.env;
  const service = optionString(
    options.service,
    'logger.service',
    env.OTEL_SERVICE_NAME || env.npm_package_name || 'unknown_service',
  );
  const environment = optionString(options.env, 'logger.env', env.NODE_ENV || 'development');
  const version = optionString(
    options.version,
    'logger.version',
    env.npm_package_version || '0.0.0',
  );
  const level = options.level ?? (env.LOG_LEVEL || 'info');
  if (!LEVELS.includes(level)) {
    throw invalidOption(
      options.level === undefined ? 'LOG_LEVEL' : 'logger.level',
      `one of ${LEVELS.join(', ')}`,
      level,
    );
  }
  const pretty = optionBoolean(options.pretty, 'logger.pretty', env.LOG_FORMAT === 'pretty');
  if (options.redact !== undefined && !Array.isArray(options.redact)) {
    throw invalidOption('logger.redact', 'an array of paths', options.redact);
  }
  const base = optionObject(options.base, 'logger.base');

  const settings: PinoOptions = {
    ...options.pino,
    level,
    base: { ...base, service, env: environment, version },
    timestamp: isoTime,
    formatters: { ...options.pino?.formatters, level: (label: string) => ({ level: label }) },
    mixin: contextMixin as PinoOptions['mixin'],
    redact: { paths: [...DEFAULT_REDACT_PATHS, ...(options.redact ?? [])], censor: '[Redacted]' },
  };
  const destination =
    options.destination ?? (pretty ? prettyStream() : undefined) ?? logDestination();
  // Its lines carry the request's ids: requests from now on run inside their context.
  enableRequestContext();
  return pino(settings, destination);
}
