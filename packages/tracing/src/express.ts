import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  expressRouteTemplate,
  onResponseDone,
  statusOfOutcome,
  trackExpressMounts,
} from '@obskit/core/internal';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { ignoreRule, type IgnoreOptions } from './ignore.js';
import {
  createServerTracing,
  noteRequestError,
  requestErrorOf,
  runRequestInSpan,
  tracingActive,
  type ServerTracingOptions,
} from './server.js';

export interface TracingMiddlewareOptions extends IgnoreOptions, ServerTracingOptions {
  /**
   * Make spans even when obskit's tracing was not started (an OpenTelemetry SDK set up by other
   * means). Default false: without it the middleware passes requests straight on.
   */
  force?: boolean;
}

const passThrough: RequestHandler = (_req, _res, next) => next();

/**
 * Express middleware for route-named server spans. Mount it first; add
 * `tracingErrors()` after the routes so thrown errors are recorded on the span.
 */
export function tracing(options: TracingMiddlewareOptions = {}): RequestHandler {
  if (options.force !== true && !tracingActive()) return passThrough;
  trackExpressMounts(express.Router);
  const server = createServerTracing(options);
  const ignored = ignoreRule(options);
  return function obskitTracing(req: IncomingMessage, res: ServerResponse, next: () => void) {
    if (ignored.byPath(req)) {
      next();
      return;
    }
    const state = server.start(req);
    onResponseDone(req, res, (outcome, error) => {
      const status = outcome === 'aborted' ? undefined : statusOfOutcome(outcome, res);
      server.end(state, expressRouteTemplate(req), status, requestErrorOf(req) ?? error);
    });
    runRequestInSpan(req, state, next);
  } as RequestHandler;
}

/** Error middleware that notes a thrown error for the span and passes it on unchanged. */
export function tracingErrors(): ErrorRequestHandler {
  return (error: unknown, req, _res, next) => {
    noteRequestError(req, error);
    next(error);
  };
}

export default tracing;
