import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  getRequestContext,
  guardCallback,
  isEndpointPath,
  onResponseDone,
  pathOf,
  peekRequestContext,
  requestErrorOf,
  routeLabel,
  statusOfOutcome,
  type Logger,
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
}

/** The request lines of both adapters: one access line per request, one error line per failure. */
export interface RequestLog {
  /**
   * When `res` is done, with the route `routeOf` returns then: the error line and `onError` for a
   * request that failed (a 5xx with an error), then the access line. Requests that obskit's own
   * endpoints answer (probes, scrapes) write neither.
   */
  track(req: IncomingMessage, res: ServerResponse, routeOf: () => string | undefined): void;
}

const LEVELS = new Set<string>(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export function createRequestLog(logger: Logger, options: RequestLogOptions): RequestLog {
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

  const done = (
    req: IncomingMessage,
    res: ServerResponse,
    statusCode: number,
    route: string | undefined,
    durationMs: number,
    err: unknown,
  ): void => {
    const context = peekRequestContext(req);
    // Inside the request's context the logger's mixin adds the ids itself; never write them twice.
    const ids =
      context === undefined || getRequestContext() === context
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
    if (err !== undefined && statusCode >= 500) {
      logger.error({ ...fields, err }, 'request failed');
      onError?.(err, {
        request: req,
        route,
        statusCode,
        reqId: context?.reqId,
        traceId: context?.traceId,
        spanId: context?.spanId,
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
      { ...fields, durationMs: Math.round(durationMs * 100) / 100 },
      'request completed',
    );
  };

  return {
    track(req, res, routeOf) {
      if ((req.method === 'GET' || req.method === 'HEAD') && isEndpointPath(pathOf(req.url)))
        return;
      const start = performance.now();
      onResponseDone(req, res, (outcome, error) => {
        const err = requestErrorOf(req) ?? (outcome === 'error' ? error : undefined);
        done(req, res, statusOfOutcome(outcome, res), routeOf(), performance.now() - start, err);
      });
    },
  };
}
