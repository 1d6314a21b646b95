import {
  expressMiddleware,
  noteRequestError,
  trackExpressMounts,
  type ExpressFeature,
} from '@obskit/core/internal';
import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import type { IgnoreOptions } from './ignore.js';
import { tracingActive, type ServerTracingOptions } from './server.js';
import { enterServerSpan, serverSpanStep } from './step.js';

// Route templates with the routers' mount templates: one wrapper on this Express module's
// `Router.prototype.use`, installed once when this entry point loads (see "Express route
// templates" in the @obskit/core README); routers mounted before it fall back to `baseUrl`.
trackExpressMounts(express.Router);

export interface TracingMiddlewareOptions extends IgnoreOptions, ServerTracingOptions {
  /**
   * Make spans even when obskit's tracing was not started (an OpenTelemetry SDK set up by other
   * means). Default false: without it the middleware passes requests straight on.
   */
  force?: boolean;
}

const passThrough: RequestHandler = (_req, _res, next) => next();

/**
 * The server-span feature as the obskit umbrella composes it, or undefined when tracing does
 * not run (and `force` is not set).
 */
export function tracingFeature(options: TracingMiddlewareOptions = {}): ExpressFeature | undefined {
  if (options.force !== true && !tracingActive()) return undefined;
  return {
    steps: [serverSpanStep(options)],
    enter: enterServerSpan,
  };
}

/**
 * Express middleware for route-named server spans. Mount it first; add
 * `tracingErrors()` after the routes so thrown errors are recorded on the span.
 */
export function tracing(options: TracingMiddlewareOptions = {}): RequestHandler {
  const feature = tracingFeature(options);
  if (feature === undefined) return passThrough;
  return expressMiddleware([feature]) as unknown as RequestHandler;
}

/** Error middleware that notes a thrown error for the span and passes it on unchanged. */
export function tracingErrors(): ErrorRequestHandler {
  return (error: unknown, req, _res, next) => {
    noteRequestError(req, error);
    next(error);
  };
}

export default tracing;
