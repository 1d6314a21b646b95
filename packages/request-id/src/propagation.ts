import diagnosticsChannel from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import {
  getRequestContext,
  HTTP_CLIENT_CREATED,
  invalidOption,
  optionObject,
  optionString,
  undiciHasHeader,
  watchHttpAnnouncements,
  type RequestContext,
  type WarnLogger,
} from '@obskit/core/internal';
import { DEFAULT_HEADER } from './resolver.js';
import type { PropagationOptions } from './types.js';

/**
 * The headers that carry the current request's id to a downstream call: `{ 'x-request-id': id }`
 * inside a request, `{}` outside one. `header` names another header.
 */
export function requestIdHeaders(header: string = DEFAULT_HEADER): Record<string, string> {
  const id = getRequestContext()?.reqId;
  return id === undefined ? {} : { [header.toLowerCase()]: id };
}

/** How a request's id goes out, resolved once: kept in each request's context. */
export interface Propagation {
  readonly header: string;
  /** Whether a call to `host` (the host name, without the port) carries the id. */
  allows(host: string | undefined): boolean;
  /** Whether a lower-case header name is `header` (for the undici header scan). */
  isHeader(name: string): boolean;
}

const kPropagation = Symbol.for('obskit.requestId.propagation');

// `api.internal` matches that host exactly, `*.svc.cluster.local` any host below it.
function hostMatcher(hosts: readonly string[] | undefined): Propagation['allows'] {
  if (hosts === undefined) return () => true;
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const host of hosts) {
    const h = host.toLowerCase();
    if (h.startsWith('*.')) suffixes.push(h.slice(1));
    else exact.add(h);
  }
  return (host) => {
    if (host === undefined) return false;
    const h = host.toLowerCase();
    return exact.has(h) || suffixes.some((suffix) => h.endsWith(suffix));
  };
}

/** Resolves propagation options once (`requestId.propagate`, `propagateRequestId`). */
export function createPropagation(
  options: PropagationOptions = {},
  path = 'propagation',
): Propagation {
  optionObject(options, path);
  const header = optionString(options.header, `${path}.header`, DEFAULT_HEADER).toLowerCase();
  const { hosts } = options;
  if (
    hosts !== undefined &&
    (!Array.isArray(hosts) || hosts.some((h) => typeof h !== 'string' || h.length === 0))
  ) {
    throw invalidOption(`${path}.hosts`, 'an array of host names', hosts);
  }
  return { header, allows: hostMatcher(hosts), isHeader: (name) => name === header };
}

/** Makes the outgoing calls made while serving `req` carry its id as `propagation` says. */
export function propagateFrom(record: RequestContext, propagation: Propagation): void {
  record[kPropagation] = propagation;
}

// `propagateRequestId()`: for contexts that no request-id adapter set up (a job run inside
// `runWithRequestContext({ reqId })`, a hand-made server).
let fallback: Propagation | undefined;

function propagationOf(context: RequestContext | undefined): Propagation | undefined {
  if (context === undefined || context.reqId === undefined) return undefined;
  return (context[kPropagation] as Propagation | undefined) ?? fallback;
}

interface UndiciRequest {
  origin?: string | URL;
  headers: string | string[];
  addHeader?: (name: string, value: string) => unknown;
}

// The host name of an origin (`http://api.internal:8080`, `https://[::1]`), without a URL object
// per call.
function hostOf(origin: string | URL | undefined): string | undefined {
  if (origin === undefined) return undefined;
  if (typeof origin !== 'string') return origin.hostname;
  const start = origin.indexOf('://');
  if (start === -1) return undefined;
  let end = origin.indexOf('/', start + 3);
  if (end === -1) end = origin.length;
  const authority = origin.slice(origin.lastIndexOf('@', end) + 1 || start + 3, end);
  if (authority.startsWith('[')) return authority.slice(0, authority.indexOf(']') + 1);
  const colon = authority.indexOf(':');
  return colon === -1 ? authority : authority.slice(0, colon);
}

function onUndiciRequest(message: unknown): void {
  const context = getRequestContext();
  const propagation = propagationOf(context);
  if (propagation === undefined) return;
  const { request } = message as { request: UndiciRequest };
  const { header } = propagation;
  if (
    !propagation.allows(hostOf(request.origin)) ||
    undiciHasHeader(request.headers, propagation.isHeader)
  )
    return;
  request.addHeader?.(header, context!.reqId!);
}

function onHttpRequest(message: unknown): void {
  const context = getRequestContext();
  const propagation = propagationOf(context);
  if (propagation === undefined) return;
  const { request } = message as { request: ClientRequest };
  const { header } = propagation;
  // A request made with a raw header array has written its headers already.
  if (!propagation.allows(request.host) || request.headersSent) return;
  // A caller's own value is kept.
  if (request.getHeader(header) === undefined) request.setHeader(header, context!.reqId!);
}

let installed = false;

/**
 * Subscribes once per process to the diagnostics channels of `fetch`/undici
 * (`undici:request:create`) and `node:http`/`node:https` (`http.client.request.created`):
 * an outgoing call made inside a request then carries its id, unless the call sets the header
 * itself. Nothing is patched. Where Node.js has no `http.client.request.created` (before 22.14),
 * `node:http` calls cannot take the header: that is said once, at `warn`, at the first one.
 */
export function installPropagation(logger?: WarnLogger): void {
  if (installed) return;
  installed = true;
  diagnosticsChannel.subscribe('undici:request:create', onUndiciRequest);
  // node:http requests are announced before their headers on Node.js 22.14 and later; on an
  // older Node.js nothing arrives here, and the watch says so once.
  diagnosticsChannel.subscribe(HTTP_CLIENT_CREATED, onHttpRequest);
  watchHttpAnnouncements(logger);
}

/**
 * Adds the current request id to every outgoing call made inside a request context that no
 * obskit request-id adapter set up (those propagate by default, see the `propagate` option):
 * a job run in `runWithRequestContext({ reqId })`, a hand-made server. Returns a function that
 * turns this fallback off again.
 */
export function propagateRequestId(options: PropagationOptions = {}): () => void {
  const propagation = createPropagation(options);
  fallback = propagation;
  installPropagation();
  return () => {
    if (fallback === propagation) fallback = undefined;
  };
}
