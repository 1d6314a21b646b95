// PostgreSQL query spans: @opentelemetry/instrumentation-pg (stable database conventions:
// `db.system.name`, `db.namespace`, `db.query.text`, `server.address`), with obskit's choices:
// only inside a trace, no connect spans, and the query text sanitised.
import { invalidOption } from '@obskit/core/internal';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import type { Instrumentation } from '@opentelemetry/instrumentation';

// Comments first (a quote in one would pair with the wrong one), then string literals: E'…'
// with backslash escapes, '…' with only '' inside (PostgreSQL's standard_conforming_strings, on
// by default: a backslash there is a character), dollar-quoted bodies ($tag$…$tag$), and numbers
// that are not part of a name or a $n placeholder.
const COMMENT = /--[^\n]*|\/\*[\s\S]*?\*\//g;
const STRING = /(?<![\w$])[eE]'(?:[^'\\]|''|\\.)*'|'(?:[^']|'')*'/g;
const DOLLAR = /\$([A-Za-z_][A-Za-z0-9_]*)?\$[\s\S]*?\$\1\$/g;
const NUMBER = /(?<![\w$.])-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?(?![\w.])/g;
const MAX_QUERY_TEXT = 2048;

/**
 * `text` with its literal values replaced by `?`: `WHERE email = 'a@b.c' AND age > 30` becomes
 * `WHERE email = ? AND age > ?`; `$1` placeholders, names and keywords stay. At most 2048
 * characters.
 */
export function sanitizeQueryText(text: string): string {
  const sanitized = text
    .replace(COMMENT, ' ')
    .replace(DOLLAR, '?')
    .replace(STRING, '?')
    .replace(NUMBER, '?');
  return sanitized.length > MAX_QUERY_TEXT ? `${sanitized.slice(0, MAX_QUERY_TEXT)}…` : sanitized;
}

export interface PgTracingOptions {
  /** Keep the query text as written (literals included). Default false: sanitised. */
  rawQueryText?: boolean;
}

export function pgInstrumentation(options: PgTracingOptions): Instrumentation {
  if (options.rawQueryText !== undefined && typeof options.rawQueryText !== 'boolean') {
    throw invalidOption('tracing.pg.rawQueryText', 'a boolean', options.rawQueryText);
  }
  return new PgInstrumentation({
    // A query outside any trace (a poll loop, a heartbeat) would start a trace of its own.
    requireParentSpan: true,
    ignoreConnectSpans: true,
    ...(options.rawQueryText === true
      ? {}
      : {
          requestHook(span, { query }) {
            if (typeof query?.text === 'string') {
              span.setAttribute('db.query.text', sanitizeQueryText(query.text));
            }
          },
        }),
  });
}
