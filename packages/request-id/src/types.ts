import type { IncomingMessage } from 'node:http';
import type { WarnLogger } from '@obskit/core/internal';

export interface RequestIdOptions {
  /** Header read from the request and set on the response. Default `x-request-id`. */
  header?: string;
  /**
   * Whether an incoming id may be used at all. Default `true`; `false` for services at the edge
   * that must never take ids from callers, or a function of the request (e.g. trust only
   * requests from the internal network). A function that throws means "no".
   */
  trustIncoming?: boolean | ((req: IncomingMessage) => boolean);
  /**
   * Accepts or rejects an incoming id. Default: 1–128 characters of `A–Z a–z 0–9 - _ . :`.
   * A value with a comma is always rejected first (it is what Node makes of a repeated header).
   * A validator that throws rejects.
   */
  validate?: (id: string) => boolean;
  /** Makes a fresh id. Default: UUID v7 (time-ordered). A generator that throws or returns an empty value gets UUID v7. */
  generate?: () => string;
  /**
   * Where a failing `trustIncoming`, `validate` or `generate` is reported (once each, at warn).
   * Default: Fastify's logger on Fastify, obskit's own logger elsewhere.
   */
  logger?: WarnLogger;
  /**
   * Outgoing `fetch` and `node:http` calls made while serving a request carry its id, unless
   * they set the header themselves. Default `true`; `false` to keep ids in; `{ hosts }` to
   * send them to some hosts only.
   */
  propagate?: boolean | PropagationOptions;
}

export interface RequestIdResolver {
  /** The header name, lower case. */
  readonly header: string;
  /** The id for this request: the incoming one when trusted and valid, else a fresh one. */
  resolve(req: IncomingMessage): string;
}

export interface PropagationOptions {
  /** Header added to outgoing requests. Default: the request-id header (`x-request-id`). */
  header?: string;
  /**
   * Only calls to these hosts carry the id: exact names (`api.internal`) or `*.` patterns
   * (`*.svc.cluster.local`). Default: every host.
   */
  hosts?: string[];
}
