import diagnosticsChannel from 'node:diagnostics_channel';
import type { ClientRequest } from 'node:http';
import { HTTP_CLIENT_CREATED } from './channels.js';

/** undici announces every request it makes (`fetch` included) here, before it is sent. */
export const UNDICI_REQUEST_CREATE = 'undici:request:create';

/** What undici publishes of a request (the fields obskit reads; undici 6 and 7). */
export interface UndiciRequest {
  origin?: string | URL;
  method?: string;
  path?: string;
  headers: string | unknown[];
  addHeader?: (name: string, value: string) => unknown;
}

/**
 * One outgoing call, as every injector sees it, whether `fetch` (undici) or `node:http` made it:
 * where it goes, whether it already carries a header, and a way to add one. Valid only during
 * the injector's call.
 */
export interface OutgoingCall {
  /** The client's own request object (undici's request or the `ClientRequest`): a map key. */
  readonly request: object;
  readonly client: 'undici' | 'http';
  readonly method: string;
  readonly scheme: 'http' | 'https';
  /** The host name, without brackets or port. */
  readonly host: string;
  readonly port: number;
  /** Path and query, as sent. */
  readonly path: string;
  /** Whether the call carries a header whose lower-case name is `name`. */
  has(name: string): boolean;
  /** Adds a header (undici) or sets it (node:http). */
  set(name: string, value: string): void;
}

/** Called once per outgoing call, in `order`, before its headers are written. */
export interface OutgoingInjector {
  readonly order: number;
  inject(call: OutgoingCall): void;
}

interface Origin {
  scheme: 'http' | 'https';
  host: string;
  port: number;
}

// A service calls a few origins over and over: each is split once (bounded, in case it calls
// many).
const origins = new Map<string, Origin>();

function originOf(origin: string): Origin {
  let parts = origins.get(origin);
  if (parts === undefined) {
    parts = splitOrigin(origin);
    if (origins.size >= 256) origins.clear();
    origins.set(origin, parts);
  }
  return parts;
}

// The host part of an origin (`http://api:8080`, `https://[::1]`) and its port.
function splitOrigin(origin: string): Origin {
  const start = origin.indexOf('://');
  const scheme = origin.startsWith('https') ? 'https' : 'http';
  let authority = origin.slice(start + 3);
  const slash = authority.indexOf('/');
  if (slash !== -1) authority = authority.slice(0, slash);
  const at = authority.lastIndexOf('@');
  if (at !== -1) authority = authority.slice(at + 1);
  let host = authority;
  let port = scheme === 'https' ? 443 : 80;
  const close = authority.lastIndexOf(']');
  const colon = authority.lastIndexOf(':');
  if (colon > close) {
    host = authority.slice(0, colon);
    const n = Number(authority.slice(colon + 1));
    if (Number.isInteger(n) && n > 0) port = n;
  }
  if (host.startsWith('[')) host = host.slice(1, host.length - 1);
  return { scheme, host, port };
}

class UndiciCall implements OutgoingCall {
  readonly client = 'undici';
  readonly method: string;
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly port: number;
  readonly path: string;
  private names: Set<string> | undefined;

  constructor(readonly request: UndiciRequest) {
    this.method = request.method ?? 'GET';
    this.path = request.path ?? '/';
    const origin = request.origin;
    const parts = originOf(typeof origin === 'string' ? origin : (origin?.origin ?? 'http://'));
    this.scheme = parts.scheme;
    this.host = parts.host;
    this.port = parts.port;
  }

  has(name: string): boolean {
    // The header names are read once per call, whatever the number of injectors asking.
    this.names ??= undiciHeaderNames(this.request.headers);
    return this.names.has(name);
  }

  set(name: string, value: string): void {
    const { request } = this;
    if (typeof request.addHeader === 'function') request.addHeader(name, value);
    else if (Array.isArray(request.headers)) request.headers.push(name, value);
    else request.headers += `${name}: ${value}\r\n`;
    this.names?.add(name);
  }
}

/** The lower-case names of undici's headers (the `name: value\r\n` string or a flat list). */
function undiciHeaderNames(headers: string | readonly unknown[] | undefined): Set<string> {
  const names = new Set<string>();
  if (typeof headers === 'string') {
    for (const line of headers.split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) names.add(line.slice(0, colon).trim().toLowerCase());
    }
  } else if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) names.add(String(headers[i]).toLowerCase());
  }
  return names;
}

class HttpCall implements OutgoingCall {
  readonly client = 'http';
  readonly method: string;
  readonly scheme: 'http' | 'https';
  readonly host: string;
  readonly port: number;
  readonly path: string;

  constructor(readonly request: ClientRequest) {
    this.method = request.method;
    this.scheme = request.protocol === 'https:' ? 'https' : 'http';
    this.host = request.host;
    this.path = request.path;
    this.port = this.scheme === 'https' ? 443 : 80;
    const host = request.getHeader('host');
    if (typeof host === 'string') {
      const colon = host.lastIndexOf(':');
      if (colon > host.lastIndexOf(']')) {
        const port = Number(host.slice(colon + 1));
        if (Number.isInteger(port) && port > 0) this.port = port;
      }
    }
  }

  has(name: string): boolean {
    return this.request.getHeader(name) !== undefined;
  }

  set(name: string, value: string): void {
    this.request.setHeader(name, value);
  }
}

// One list per process, with its subscribers (the ESM and CommonJS builds share them), one
// subscription per channel.
interface Shared {
  injectors: OutgoingInjector[];
  onUndici(message: unknown): void;
  onHttp(message: unknown): void;
}
const kShared = Symbol.for('obskit.core.outgoingInjectors');
const store = globalThis as Record<symbol, unknown>;

function sharedState(): Shared {
  const existing = store[kShared] as Shared | undefined;
  if (existing !== undefined) return existing;
  const injectors: OutgoingInjector[] = [];
  const run = (call: OutgoingCall): void => {
    for (const injector of injectors) injector.inject(call);
  };
  const shared: Shared = {
    injectors,
    onUndici(message) {
      run(new UndiciCall((message as { request: UndiciRequest }).request));
    },
    onHttp(message) {
      const { request } = message as { request: ClientRequest };
      // A request made with a raw header array has written its headers already.
      if (!request.headersSent) run(new HttpCall(request));
    },
  };
  store[kShared] = shared;
  return shared;
}

/**
 * Adds an injector that every outgoing `fetch`/undici and `node:http`/`node:https` call goes
 * through before its headers are written (`undici:request:create`, and on Node.js 22.14 and later
 * `http.client.request.created`): the request id and the trace context go out through one
 * subscription per channel, one header scan per call. Nothing is patched. Returns a function that
 * removes the injector (the subscriptions end with the last one).
 */
export function addOutgoingInjector(injector: OutgoingInjector): () => void {
  const shared = sharedState();
  const { injectors } = shared;
  if (injectors.length === 0) {
    diagnosticsChannel.subscribe(UNDICI_REQUEST_CREATE, shared.onUndici);
    diagnosticsChannel.subscribe(HTTP_CLIENT_CREATED, shared.onHttp);
  }
  let at = injectors.findIndex((other) => other.order > injector.order);
  if (at === -1) at = injectors.length;
  injectors.splice(at, 0, injector);
  return () => {
    const index = injectors.indexOf(injector);
    if (index === -1) return;
    injectors.splice(index, 1);
    if (injectors.length === 0) {
      diagnosticsChannel.unsubscribe(UNDICI_REQUEST_CREATE, shared.onUndici);
      diagnosticsChannel.unsubscribe(HTTP_CLIENT_CREATED, shared.onHttp);
    }
  };
}

/** Where each injector runs: the request id first, then the trace context. */
export const INJECT = { requestId: 10, traceContext: 20 } as const;
