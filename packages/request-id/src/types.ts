import type { IncomingMessage } from 'node:http';

export interface RequestIdOptions {
  /** Header read from the request and set on the response. Default `x-request-id`. */
  header?: string;
  /**
   * Whether an incoming id may be used at all. Default `true`; `false` for services at the edge
   * that must never take ids from callers, or a function of the request (e.g. trust only
   * requests from the internal network).
   */
  trustIncoming?: boolean | ((req: IncomingMessage) => boolean);
  /**
   * Accepts or rejects an incoming id. Default: 1–128 characters of `A–Z a–z 0–9 - _ . :`.
   * A value with a comma is always rejected first (it is what Node makes of a repeated header).
   */
  validate?: (id: string) => boolean;
  /** Makes a fresh id. Default: UUID v7 (time-ordered). */
  generate?: () => string;
}

export interface RequestIdResolver {
  /** The header name, lower case. */
  readonly header: string;
  /** The id for this request: the incoming one when trusted and valid, else a fresh one. */
  resolve(req: IncomingMessage): string;
}

export interface PropagationOptions {
  /** Header added to outgoing requests. Default `x-request-id`. */
  header?: string;
}
