import type { IncomingMessage } from 'node:http';
import { invalidOption, requestContextOf, type RequestRecord } from '@obskit/core/internal';
import { createPropagation, installPropagation, propagateFrom } from './propagation.js';
import { createRequestIdResolver } from './resolver.js';
import type { RequestIdOptions } from './types.js';

/** What a request-id adapter does per request, resolved once from the options. */
export interface RequestIds {
  /** The header read and echoed, lower case. */
  readonly header: string;
  /**
   * The request's id: resolved on first call and kept in its request context; outgoing calls
   * made while serving it carry it unless `propagate: false`.
   */
  begin(req: IncomingMessage, record?: RequestRecord): string;
}

/** Resolves request-id options once; both adapters call `begin` per request. */
export function createRequestIds(options: RequestIdOptions = {}): RequestIds {
  const resolver = createRequestIdResolver(options);
  const { header } = resolver;
  const propagate = options.propagate ?? true;
  if (typeof propagate !== 'boolean' && (typeof propagate !== 'object' || propagate === null)) {
    throw invalidOption('requestId.propagate', 'a boolean or { header, hosts }', propagate);
  }
  if (propagate === false) {
    return {
      header,
      begin: (req, record = requestContextOf(req)) => (record.reqId ??= resolver.resolve(req)),
    };
  }
  const propagation = createPropagation(
    { header, ...(propagate === true ? {} : propagate) },
    'requestId.propagate',
  );
  installPropagation(options.logger);
  return {
    header,
    begin(req, record = requestContextOf(req)) {
      const id = (record.reqId ??= resolver.resolve(req));
      propagateFrom(record, propagation);
      return id;
    },
  };
}
