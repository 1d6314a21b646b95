import type { IncomingMessage } from 'node:http';
import { requestContextOf, runInRequestContext } from '@obskit/core';
import type { FastifyPluginCallback, FastifyReply, FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import { createRequestIdResolver } from './resolver.js';
import type { RequestIdOptions } from './types.js';

export type { PropagationOptions, RequestIdOptions } from './types.js';
// The outgoing-call helpers, for one import per framework. Loading them also loads `node:https`,
// which on Node 20 made a slow `process.nextTick` in Fastify request-id servers rarer (2 of 7
// profiles against 9 of 9; see "process.nextTick on Node 20" in docs/benchmarks.md).
export { propagateRequestId, requestIdHeaders } from './propagation.js';

/**
 * Fastify server options that make `request.id` (and so the `reqId` of `request.log` lines) the
 * validated request id: `Fastify({ ...requestIdServerOptions(), loggerInstance })`. Pass the same
 * options as to the plugin.
 */
export function requestIdServerOptions(
  options: RequestIdOptions = {},
): Pick<FastifyServerOptions, 'genReqId' | 'requestIdHeader'> {
  const { resolve } = createRequestIdResolver(options);
  return {
    requestIdHeader: false,
    // The id goes straight into the request context, which the plugin then finds filled.
    genReqId: (raw: IncomingMessage) => (requestContextOf(raw).reqId = resolve(raw)),
  };
}

// Fastify keeps a reply's headers in a plain object under a symbol of its own, which it writes
// with `writeHead` when the reply is sent. Storing the id there directly skips `reply.header()`'s
// lower-casing and `set-cookie` checks (the header name is a lower-case token already): about
// 1,300 fewer instructions per request on Node 20, 2 % of a bare Fastify request (callgrind).
// Found once, from the first reply; `reply.header()` is used if it is not there.
const HEADERS_SYMBOL = 'fastify.reply.headers';
let headersKey: symbol | null | undefined;

function setReplyHeader(reply: FastifyReply, name: string, value: string): void {
  if (headersKey === undefined) {
    headersKey =
      Object.getOwnPropertySymbols(reply).find((s) => s.description === HEADERS_SYMBOL) ?? null;
  }
  const headers =
    headersKey === null ? undefined : (reply as unknown as Record<symbol, unknown>)[headersKey];
  if (typeof headers === 'object' && headers !== null) {
    (headers as Record<string, unknown>)[name] = value;
  } else {
    void reply.header(name, value);
  }
}

const plugin: FastifyPluginCallback<RequestIdOptions> = (app, options, done) => {
  const { header, resolve } = createRequestIdResolver(options);
  app.addHook('onRequest', (request, reply, next) => {
    const raw = request.raw;
    const context = requestContextOf(raw);
    let id = context.reqId;
    if (id === undefined) {
      // The server was created without requestIdServerOptions(): replace Fastify's counter id.
      id = resolve(raw);
      request.id = id;
      request.log = app.log.child({ reqId: id });
      context.reqId = id;
    }
    setReplyHeader(reply, header, id);
    runInRequestContext(raw, next);
  });
  done();
};

/** Validated, generated and echoed request ids for Fastify. */
export const requestId = fp(plugin, { fastify: '5.x', name: '@obskit/request-id' });
export default requestId;
