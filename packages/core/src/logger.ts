import { createRequire } from 'node:module';
import pino from 'pino';
import type { DestinationStream, Logger, LoggerOptions as PinoOptions } from 'pino';
import { getRequestContext } from './context.js';
import { logDestination } from './destination.js';
import { invalidOption } from './errors.js';
import { serviceIdentity } from './identity.js';
import { optionBoolean, optionObject } from './options.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** `service` field of every line. Default: see `serviceIdentity` (`OTEL_SERVICE_NAME`, the package name). */
  service?: string;
  /** `env` field. Default: see `serviceIdentity` (`NODE_ENV`, else `development`). */
  env?: string;
  /** `version` field. Default: see `serviceIdentity` (the application's package.json version). */
  version?: string;
  /** Minimum level. Default: `LOG_LEVEL`, else `info`. */
  level?: string;
  /** Human-readable output through pino-pretty (to `destination` when given). Default: `LOG_FORMAT=pretty`. */
  pretty?: boolean;
  /** Extra paths to redact, added to the defaults (authorization, cookie, set-cookie). */
  redact?: string[];
  /**
   * Where lines go. Default: standard output through `logDestination()`, which never blocks the
   * event loop and holds a bounded buffer while standard output takes nothing.
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

// Loggers whose bindings already hold `reqId` (Fastify's request.log, obskit's req.log): the
// mixin leaves it out there, so no line carries the key twice. obskit's own children are marked
// when made (pino makes a child with Object.create, so its children see the mark too); any other
// logger is asked once, through pino's `bindings()`, and the answer kept for its lifetime.
const kBindsReqId = Symbol.for('obskit.core.bindsReqId');
const askedLoggers = new WeakMap<Logger, boolean>();

type Marked = Logger & { [kBindsReqId]?: true };

function bindsReqId(logger: Logger): boolean {
  if ((logger as Marked)[kBindsReqId] === true) return true;
  let binds = askedLoggers.get(logger);
  if (binds === undefined) {
    binds = Object.prototype.hasOwnProperty.call(logger.bindings(), 'reqId');
    askedLoggers.set(logger, binds);
  }
  return binds;
}

/** Marks `logger` as one whose bindings hold `reqId`; returns it. */
export function markBindsRequestId<L extends Logger>(logger: L): L {
  (logger as Marked)[kBindsReqId] = true;
  return logger;
}

/** A child of `logger` bound to `reqId`, for the request's own logger (`req.log`). */
export function requestLogger(logger: Logger, reqId: string): Logger {
  return markBindsRequestId(logger.child({ reqId }));
}

/**
 * Fastify's `childLoggerFactory` for the obskit logger: Fastify's own child (bound to `reqId`),
 * marked so that the obskit mixin does not write `reqId` a second time.
 */
export function childLoggerFactory(
  logger: Logger,
  bindings: Record<string, unknown>,
  options: object,
): Logger {
  const child = logger.child(bindings, options);
  return bindings.reqId === undefined ? child : markBindsRequestId(child);
}

function contextMixin(_merge: object, _level: number, logger: Logger): object {
  const context = getRequestContext();
  if (context === undefined) return {};
  const reqId = context.reqId === undefined || bindsReqId(logger) ? undefined : context.reqId;
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

function prettyStream(destination: DestinationStream | undefined): DestinationStream | undefined {
  try {
    const require = createRequire(import.meta.url);
    const pretty = require('pino-pretty') as (options?: object) => DestinationStream;
    return pretty({
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'service,env,version',
      ...(destination === undefined ? {} : { destination, sync: true }),
    });
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
  const identity = serviceIdentity(
    { service: options.service, version: options.version, env: options.env },
    'logger',
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
    base: { ...base, service: identity.service, env: identity.env, version: identity.version },
    timestamp: isoTime,
    formatters: { ...options.pino?.formatters, level: (label: string) => ({ level: label }) },
    mixin: contextMixin as PinoOptions['mixin'],
    redact: { paths: [...DEFAULT_REDACT_PATHS, ...(options.redact ?? [])], censor: '[Redacted]' },
  };
  const destination =
    (pretty ? prettyStream(options.destination) : undefined) ??
    options.destination ??
    logDestination({
      fields: { service: identity.service, env: identity.env, version: identity.version },
    });
  return pino(settings, destination);
}
