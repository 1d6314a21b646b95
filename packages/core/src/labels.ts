/** The route label of a request that matched no route. */
export const UNMATCHED_ROUTE = '__unmatched__';

/** The method label for anything outside the standard set. */
export const OTHER_METHOD = '_OTHER';

/** The status code label of a request whose client went away before the response completed. */
export const CLIENT_CLOSED_STATUS = 499;

/** The standard HTTP methods (RFC 9110 and PATCH), as OpenTelemetry's conventions list them. */
export const STANDARD_METHODS: readonly string[] = Object.freeze([
  'CONNECT',
  'DELETE',
  'GET',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'POST',
  'PUT',
  'TRACE',
]);

const methods = new Map<string, string>(STANDARD_METHODS.map((m) => [m, m]));

/**
 * The method label: one of the standard methods, or `_OTHER`. Methods are case-sensitive (RFC
 * 9110), so `get` is `_OTHER` too; this keeps the label set bounded whatever clients send.
 */
export function normalizeMethod(method: string | undefined): string {
  return (method !== undefined && methods.get(method)) || OTHER_METHOD;
}

/** Whether `method` is one of the standard methods. */
export function isStandardMethod(method: string | undefined): boolean {
  return method !== undefined && methods.has(method);
}

const statusStrings: string[] = [];
for (let code = 100; code < 600; code++) statusStrings[code] = String(code);

/** The status code label: the three-digit code as a string (strings made once at load). */
export function statusCodeLabel(statusCode: number): string {
  return statusStrings[statusCode] ?? String(statusCode);
}

/** The route label: the matched template, or `__unmatched__`. */
export function routeLabel(route: string | undefined | null): string {
  return route ? route : UNMATCHED_ROUTE;
}

/**
 * The path of a request target, without the query string. An absolute-form target
 * (`GET http://host/path HTTP/1.1`) gives its path only: the host is the client's choice.
 */
export function pathOf(url: string | undefined): string {
  if (url === undefined || url === '') return '/';
  if (url.charCodeAt(0) !== 47 /* '/' */) return absolutePath(url);
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function absolutePath(url: string): string {
  const scheme = url.indexOf('://');
  if (scheme === -1) return url === '*' ? '*' : '/';
  const slash = url.indexOf('/', scheme + 3);
  if (slash === -1) return '/';
  return pathOf(url.slice(slash));
}

/**
 * The type of an error as obskit names it everywhere (span `error.type`, the exception event,
 * the log line's `err.type`): its class name, else its `name`, else `_OTHER`.
 */
export function errorTypeOf(error: unknown): string {
  if (error !== null && typeof error === 'object') {
    const ctor = (error as { constructor?: { name?: unknown } }).constructor;
    if (typeof ctor?.name === 'string' && ctor.name !== '' && ctor.name !== 'Object')
      return ctor.name;
    const name = (error as { name?: unknown }).name;
    if (typeof name === 'string' && name !== '') return name;
  }
  return '_OTHER';
}

/**
 * The type of a failed I/O operation (an outgoing call, a connect): the error's code when it has
 * one of the short upper-case kind (`ECONNREFUSED`, `UND_ERR_SOCKET`, SQLSTATE `3D000`: few
 * values, and the telling ones), else `errorTypeOf`.
 */
export function errorCodeOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code) ? code : errorTypeOf(error);
}
