import type { IncomingMessage } from 'node:http';
import {
  guardCallback,
  invalidOption,
  optionBoolean,
  pathOf,
  routeTemplateMatcher,
  type WarnLogger,
} from '@obskit/core/internal';

export interface IgnoreOptions {
  /**
   * Requests that get no server span: route templates (`/internal/:job`), or a predicate
   * `(req) => boolean`. A predicate that throws traces the request (reported once).
   */
  ignore?: string[] | ((req: IncomingMessage) => boolean);
  /** Trace obskit's own endpoints (the probes, `/metrics`) too. Default false. */
  includeObskitEndpoints?: boolean;
  /** Where a failing `ignore` predicate is reported. */
  logger?: WarnLogger;
}

/** Whether a request gets no span, decided when it starts; resolved once from the options. */
export interface IgnoreRule {
  /** Whether obskit's own endpoints are traced too. */
  readonly includeObskitEndpoints: boolean;
  /** With the matched route template known (Fastify). */
  byRoute(req: IncomingMessage, route: string | undefined): boolean;
  /** Before routing, from the path (Express): templates are matched against it. */
  byPath(req: IncomingMessage): boolean;
}

export function ignoreRule(options: IgnoreOptions = {}): IgnoreRule {
  const includeObskit = optionBoolean(
    options.includeObskitEndpoints,
    'tracing.includeObskitEndpoints',
    false,
  );
  const { ignore } = options;
  let templates: string[] = [];
  let predicate: ((req: IncomingMessage) => boolean) | undefined;
  if (typeof ignore === 'function') {
    predicate = guardCallback(ignore, 'tracing.ignore', false, options.logger);
  } else if (ignore !== undefined) {
    if (!Array.isArray(ignore) || ignore.some((t) => typeof t !== 'string')) {
      throw invalidOption('tracing.ignore', 'an array of route templates or a function', ignore);
    }
    templates = ignore;
  }
  const byTemplate = new Set(templates);
  const byPathMatch = routeTemplateMatcher(templates);
  return {
    includeObskitEndpoints: includeObskit,
    byRoute(req, route) {
      if (route !== undefined && byTemplate.has(route)) return true;
      return predicate !== undefined && predicate(req) === true;
    },
    byPath(req) {
      if (byPathMatch(pathOf(req.url))) return true;
      return predicate !== undefined && predicate(req) === true;
    },
  };
}
