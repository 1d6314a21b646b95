import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  getRequestContext,
  isEndpointPath,
  onResponseDone,
  pathOf,
  peekRequestContext,
  routeLabel,
  statusOfOutcome,
  type Logger,
} from '@obskit/core/internal';

/** The access line of both adapters: one `request completed` line per request. */
export interface AccessLog {
  /**
   * Writes the line when `res` is done, with the route `routeOf` returns then. Requests that
   * obskit's own endpoints answer (probes, scrapes) write none.
   */
  track(req: IncomingMessage, res: ServerResponse, routeOf: () => string | undefined): void;
}

export function createAccessLog(logger: Logger): AccessLog {
  const line = (
    req: IncomingMessage,
    statusCode: number,
    route: string | undefined,
    durationMs: number,
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
    logger.info(
      {
        ...ids,
        method: req.method,
        path: pathOf(req.url),
        route: routeLabel(route),
        statusCode,
        durationMs: Math.round(durationMs * 100) / 100,
      },
      'request completed',
    );
  };
  return {
    track(req, res, routeOf) {
      if ((req.method === 'GET' || req.method === 'HEAD') && isEndpointPath(pathOf(req.url)))
        return;
      const start = performance.now();
      onResponseDone(req, res, (outcome) => {
        line(req, statusOfOutcome(outcome, res), routeOf(), performance.now() - start);
      });
    },
  };
}
