import {
  addOutgoingInjector,
  getRequestContext,
  INJECT,
  invalidOption,
  optionObject,
  optionString,
  watchHttpAnnouncements,
  type OutgoingCall,
  type OutgoingInjector,
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
  return { header, allows: hostMatcher(hosts) };
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

// Runs for every outgoing call (fetch and node:http alike), before the trace context.
const injector: OutgoingInjector = {
  order: INJECT.requestId,
  inject(call: OutgoingCall): void {
    const context = getRequestContext();
    const propagation = propagationOf(context);
    if (propagation === undefined) return;
    const { header } = propagation;
    // A caller's own value is kept.
    if (!propagation.allows(call.host) || call.has(header)) return;
    call.set(header, context!.reqId!);
  },
};

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
  // node:http requests are announced before their headers on Node.js 22.14 and later; on an
  // older Node.js nothing arrives for them, and the watch says so once.
  addOutgoingInjector(injector);
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
