import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  getRequestContext,
  guardCallback,
  pathOf,
  recordedRoute,
  routeLabel,
  STEP,
  type Logger,
  type PipelineStep,
  type RequestRecord,
} from '@obskit/core/internal';

/** A pino level, or `silent` for no line. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface AccessLogOptions {
  /**
   * The access line's level, as pino-http's `customLogLevel(req, res, err)`. Default `error` for
   * a 5xx, `info` otherwise; `silent` writes no line.
   */
  customLogLevel?: (req: IncomingMessage, res: ServerResponse, err: unknown) => LogLevel;
  /** Requests that get no access line, as pino-http's `autoLogging.ignore(req)`. */
  ignore?: (req: IncomingMessage) => boolean;
}

/** What `onError` is told besides the error. */
export interface ErrorInfo {
  request: IncomingMessage;
  /** The matched route template, if any. */
  route: string | undefined;
  statusCode: number;
  reqId: string | undefined;
  traceId: string | undefined;
  spanId: string | undefined;
}

export type OnError = (err: unknown, info: ErrorInfo) => void;

export interface RequestLogOptions {
  accessLog: boolean | AccessLogOptions;
  onError?: OnError;
  /** Lines for obskit's own endpoints (probes, scrapes) too. Default false. */
  includeObskitEndpoints?: boolean;
}

const LEVELS = new Set<string>(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/**
 * The request lines of both adapters, as a step of the app's request pipeline: when the response
 * is done, the error line and `onError` for a request that failed (a 5xx with an error), then the
 * access line. Requests to obskit's own endpoints (probes, scrapes) write neither, unless
 * `includeObskitEndpoints`.
 */
export function requestLogStep(logger: Logger, options: RequestLogOptions): PipelineStep {
  const include = options.includeObskitEndpoints === true;
  const access =
    options.accessLog === false ? undefined : options.accessLog === true ? {} : options.accessLog;
  const customLevel =
    access?.customLogLevel === undefined
      ? undefined
      : guardCallback(access.customLogLevel, 'obskit.accessLog.customLogLevel', undefined, logger);
  const ignore =
    access?.ignore === undefined
      ? undefined
      : guardCallback(access.ignore, 'obskit.accessLog.ignore', false, logger);
  const onError =
    options.onError === undefined
      ? undefined
      : guardCallback(options.onError, 'obskit.onError', undefined, logger);

  const done = (req: IncomingMessage, res: ServerResponse, context: RequestRecord): void => {
    const { statusCode } = context;
    const route = recordedRoute(context);
    const err = context.error ?? (context.outcome === 'error' ? context.failure : undefined);
    // Inside the request's context the logger's mixin adds the ids itself; never write them twice.
    const ids =
      getRequestContext() === context
        ? undefined
        : {
            reqId: context.reqId,
            trace_id: context.traceId,
            span_id: context.spanId,
            trace_flags: context.traceFlags,
          };
    const fields = {
      ...ids,
      method: req.method,
      path: pathOf(req.url),
      route: routeLabel(route),
      statusCode,
    };
    // An upgrade (101) has no error status to carry: an error noted for it is a failure too.
    if (err !== undefined && (statusCode >= 500 || context.upgraded === true)) {
      logger.error({ ...fields, err }, 'request failed');
      onError?.(err, {
        request: req,
        route,
        statusCode,
        reqId: context.reqId,
        traceId: context.traceId,
        spanId: context.spanId,
      });
    }
    if (access === undefined || (ignore !== undefined && ignore(req) === true)) return;
    let level: string = statusCode >= 500 ? 'error' : 'info';
    if (customLevel !== undefined) {
      const chosen = customLevel(req, res, err);
      if (typeof chosen === 'string' && LEVELS.has(chosen)) level = chosen;
    }
    if (level === 'silent') return;
    logger[level as Exclude<LogLevel, 'silent'>](
      { ...fields, durationMs: Math.round((performance.now() - context.start) * 100) / 100 },
      'request completed',
    );
  };

  return {
    order: STEP.accessLog,
    route: true,
    begin(_req, _res, record) {
      if (record.endpoint === undefined || include) record.logged = true;
    },
    end(req, res, record) {
      if (record.logged) done(req, res, record);
    },
  };
}
