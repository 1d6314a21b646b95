import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  recordedRoute,
  runInRequestContext,
  STEP,
  type EnterRequest,
  type PipelineStep,
  type RequestRecord,
} from '@obskit/core/internal';
import { ignoreRule, type IgnoreOptions } from './ignore.js';
import {
  createServerTracing,
  runRequestInSpan,
  type ServerSpan,
  type ServerTracingOptions,
} from './server.js';

/**
 * The server span's steps in an app's request pipeline: started when the request begins (unless
 * it is one of obskit's own endpoints, or ignored), ended when the response is done, named by
 * the route then.
 */
export function serverSpanStep(options: IgnoreOptions & ServerTracingOptions): PipelineStep {
  const server = createServerTracing(options);
  const ignored = ignoreRule(options);
  const include = ignored.includeObskitEndpoints;
  return {
    order: STEP.span,
    route: true,
    begin(req: IncomingMessage, _res: ServerResponse, record: RequestRecord) {
      if (record.endpoint !== undefined && !include) return;
      if (record.route !== undefined ? ignored.byRoute(req, record.route) : ignored.byPath(req)) {
        return;
      }
      record.span = server.start(req, record);
    },
    end(_req: IncomingMessage, _res: ServerResponse, record: RequestRecord) {
      const state = record.span as ServerSpan | undefined;
      if (state === undefined) return;
      const status = record.outcome === 'aborted' ? undefined : record.statusCode;
      server.end(state, recordedRoute(record), status, record.error ?? record.failure);
    },
  };
}

/** Enters the server span's context with the request's (or only the request's without a span). */
export const enterServerSpan: EnterRequest = (req, record, next) => {
  const state = record.span as ServerSpan | undefined;
  if (state === undefined) runInRequestContext(req, next);
  else runRequestInSpan(req, state, next);
};
