import { createRequire } from 'node:module';
import { ecsFormat } from '@elastic/ecs-pino-format';
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
  /**
   * Elastic Common Schema lines (`@elastic/ecs-pino-format`): `@timestamp`, `log.level`,
   * `message`, `service.*`, `http.request.id`, `trace.id`, `span.id`, `error.*`. Default:
   * `LOG_FORMAT=ecs`.
   */
  ecs?: boolean;
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
// On ECS loggers (children inherit it): request children bind `http.request.id` instead of reqId.
const kEcs = Symbol.for('obskit.core.ecsLogger');
const askedLoggers = new WeakMap<Logger, boolean>();

type Marked = Logger & { [kBindsReqId]?: true; [kEcs]?: true };

function bindsReqId(logger: Logger): boolean {
  if ((logger as Marked)[kBindsReqId] === true) return true;
  let binds = askedLoggers.get(logger);
  if (binds === undefined) {
    const bindings = logger.bindings();
    binds =
      Object.prototype.hasOwnProperty.call(bindings, 'reqId') ||
      Object.prototype.hasOwnProperty.call(bindings, 'http.request.id');
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
  const ecs = (logger as Marked)[kEcs] === true;
  return markBindsRequestId(logger.child(ecs ? { 'http.request.id': reqId } : { reqId }));
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
  // pino does not pass child bindings through the ECS formatters: renamed here.
  const ecs = (logger as Marked)[kEcs] === true;
  const child = logger.child(ecs ? toEcs(bindings) : bindings, options);
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

// obskit's field names and their Elastic Common Schema names, for LOG_FORMAT=ecs. The access
// line's fields go to their ECS homes too (`http.route` is OpenTelemetry's name: ECS has none).
const ECS_FIELDS: Record<string, string> = {
  reqId: 'http.request.id',
  trace_id: 'trace.id',
  span_id: 'span.id',
  method: 'http.request.method',
  statusCode: 'http.response.status_code',
  path: 'url.path',
  route: 'http.route',
};

function toEcs(object: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const key in object) {
    const name = ECS_FIELDS[key];
    if (name === undefined && key !== 'trace_flags' && key !== 'durationMs') continue;
    out ??= { ...object };
    const value = out[key];
    delete out[key];
    if (name !== undefined) out[name] = value;
    // ECS durations are in nanoseconds.
    else if (key === 'durationMs' && typeof value === 'number') {
      out['event.duration'] = Math.round(value * 1e6);
    }
  }
  return out ?? object;
}

/** pino settings for Elastic Common Schema lines, around obskit's fields. */
function ecsSettings(identity: { service: string; env: string; version: string }): PinoOptions {
  const ecs = ecsFormat({
    serviceName: identity.service,
    serviceVersion: identity.version,
    serviceEnvironment: identity.env,
    convertErr: true,
    convertReqRes: false,
    apmIntegration: false,
  }) as unknown as {
    messageKey: string;
    timestamp: () => string;
    formatters: {
      level: (label: string, n: number) => object;
      bindings: (b: object) => Record<string, unknown>;
      log: (o: object) => Record<string, unknown>;
    };
  };
  return {
    ...ecs,
    formatters: {
      level: ecs.formatters.level,
      bindings: (bindings: object) => toEcs(ecs.formatters.bindings(bindings)),
      log: (object: object) => toEcs(ecs.formatters.log(object)),
    },
  };
}

const FORMATS = ['', 'json', 'pretty', 'ecs'];

/**
 * A pino logger that writes obskit's log vocabulary: ISO `time`, `level` as a label, `service`,
 * `env`, `version`, and, inside a request, `reqId`, `trace_id`, `span_id` and `trace_flags` from
 * the request context. Works as Fastify's `loggerInstance` and as pino-http's `logger`. With
 * `LOG_FORMAT=ecs` (or `ecs: true`) the same lines in Elastic Common Schema.
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
  const format = env.LOG_FORMAT ?? '';
  if (!FORMATS.includes(format)) {
    throw invalidOption('LOG_FORMAT', 'json, pretty or ecs', format);
  }
  const pretty = optionBoolean(options.pretty, 'logger.pretty', format === 'pretty');
  const ecs = optionBoolean(options.ecs, 'logger.ecs', format === 'ecs');
  if (options.redact !== undefined && !Array.isArray(options.redact)) {
    throw invalidOption('logger.redact', 'an array of paths', options.redact);
  }
  const base = optionObject(options.base, 'logger.base');

  const settings: PinoOptions = ecs
    ? {
        ...options.pino,
        ...ecsSettings(identity),
        level,
        base: { ...base },
        mixin: contextMixin as PinoOptions['mixin'],
        redact: {
          paths: [...DEFAULT_REDACT_PATHS, ...(options.redact ?? [])],
          censor: '[Redacted]',
        },
      }
    : {
        ...options.pino,
        level,
        base: { ...base, service: identity.service, env: identity.env, version: identity.version },
        timestamp: isoTime,
        formatters: { ...options.pino?.formatters, level: (label: string) => ({ level: label }) },
        mixin: contextMixin as PinoOptions['mixin'],
        redact: {
          paths: [...DEFAULT_REDACT_PATHS, ...(options.redact ?? [])],
          censor: '[Redacted]',
        },
      };
  const destination =
    (pretty ? prettyStream(options.destination) : undefined) ??
    options.destination ??
    logDestination({
      fields: ecs
        ? {
            'service.name': identity.service,
            'service.environment': identity.env,
            'service.version': identity.version,
          }
        : { service: identity.service, env: identity.env, version: identity.version },
    });
  const logger = pino(settings, destination);
  if (ecs) (logger as Marked)[kEcs] = true;
  return logger;
}
