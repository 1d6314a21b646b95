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

/** The path of a request URL, without the query string. */
export function pathOf(url: string | undefined): string {
  if (url === undefined) return '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
