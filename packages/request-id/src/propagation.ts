import diagnosticsChannel from 'node:diagnostics_channel';
import http, { type ClientRequest } from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import { enableRequestContext, getRequestContext, optionObject, optionString } from '@obskit/core';
import { DEFAULT_HEADER } from './resolver.js';
import type { PropagationOptions } from './types.js';

/**
 * The headers that carry the current request's id to a downstream call: `{ 'x-request-id': id }`
 * inside a request, `{}` outside one.
 */
export function requestIdHeaders(header: string = DEFAULT_HEADER): Record<string, string> {
  const id = getRequestContext()?.reqId;
  return id === undefined ? {} : { [header]: id };
}

interface UndiciRequest {
  headers: string | string[];
  addHeader?: (name: string, value: string) => unknown;
}

function hasUndiciHeader(request: UndiciRequest, header: string): boolean {
  const { headers } = request;
  if (typeof headers === 'string') return headers.toLowerCase().includes(`${header}:`);
  if (Array.isArray(headers)) {
    for (let i = 0; i < headers.length; i += 2) {
      if (String(headers[i]).toLowerCase() === header) return true;
    }
  }
  return false;
}

function addUndiciHeader(request: UndiciRequest, header: string, id: string): void {
  if (hasUndiciHeader(request, header)) return;
  if (typeof request.addHeader === 'function') request.addHeader(header, id);
  else if (typeof request.headers === 'string') request.headers += `${header}: ${id}\r\n`;
  else if (Array.isArray(request.headers)) request.headers.push(header, id);
}

/**
 * Adds the current request id to every outgoing `fetch`/undici and `node:http`/`node:https`
 * request made inside a request, unless the call sets the header itself. Works through
 * `diagnostics_channel` (`undici:request:create`, `http.client.request.start`), so nothing is
 * patched. Returns a function that turns it off again.
 */
export function propagateRequestId(options: PropagationOptions = {}): () => void {
  optionObject(options, 'propagation');
  const header = optionString(options.header, 'propagation.header', DEFAULT_HEADER).toLowerCase();
  enableRequestContext();

  const onUndici = (message: unknown): void => {
    const id = getRequestContext()?.reqId;
    if (id === undefined) return;
    try {
      addUndiciHeader((message as { request: UndiciRequest }).request, header, id);
    } catch {
      // Never break an outgoing call for a header.
    }
  };
  const onHttp = (message: unknown): void => {
    addHttpHeader((message as { request: ClientRequest }).request, header);
  };
  diagnosticsChannel.subscribe('undici:request:create', onUndici);
  let stopHttp: () => void;
  if (hasRequestCreatedChannel) {
    diagnosticsChannel.subscribe('http.client.request.created', onHttp);
    stopHttp = () => diagnosticsChannel.unsubscribe('http.client.request.created', onHttp);
  } else {
    stopHttp = wrapHttpModules(header);
  }
  let active = true;
  return () => {
    if (!active) return;
    active = false;
    diagnosticsChannel.unsubscribe('undici:request:create', onUndici);
    stopHttp();
  };
}

function addHttpHeader(request: ClientRequest, header: string): void {
  const id = getRequestContext()?.reqId;
  if (id === undefined) return;
  try {
    if (!request.headersSent && request.getHeader(header) === undefined) {
      request.setHeader(header, id);
    }
  } catch {
    // Requests created with a raw header array cannot take more headers; leave them alone.
  }
}

// `http.client.request.created` fires before the headers are written (Node 22.14+ and 23.2+).
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const hasRequestCreatedChannel = major > 22 || (major === 22 && minor >= 14);

type RequestFn = (...args: unknown[]) => ClientRequest;

/**
 * Older Node has no channel before the headers are written: wrap `request` and `get` of
 * `node:http` and `node:https` (and resync ESM named exports), restoring them when turned off.
 */
function wrapHttpModules(header: string): () => void {
  const restores: (() => void)[] = [];
  for (const mod of [http, https] as unknown as Record<'request' | 'get', RequestFn>[]) {
    for (const name of ['request', 'get'] as const) {
      const original = mod[name];
      const wrapped: RequestFn = function (this: unknown, ...args: unknown[]) {
        const request = original.apply(this, args);
        addHttpHeader(request, header);
        return request;
      };
      mod[name] = wrapped;
      restores.push(() => {
        if (mod[name] === wrapped) mod[name] = original;
      });
    }
  }
  syncBuiltinESMExports();
  return () => {
    for (const restore of restores) restore();
    syncBuiltinESMExports();
  };
}
