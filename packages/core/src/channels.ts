import diagnosticsChannel from 'node:diagnostics_channel';
import { defaultLogger, type WarnLogger } from './guard.js';

/** Node.js announces an outgoing `node:http` request here before its headers are written (22.14+). */
export const HTTP_CLIENT_CREATED = 'http.client.request.created';
// Published by every supported Node.js once the request's headers are written.
const HTTP_CLIENT_START = 'http.client.request.start';

// Said once per process, whichever obskit package watches first (the ESM and CommonJS builds
// share it).
const kWatch = Symbol.for('obskit.core.httpAnnouncementWatch');
interface Watch {
  said: boolean;
  done: boolean;
}

/**
 * Watches the first outgoing `node:http` requests to learn, from what this Node.js publishes,
 * whether it announces them before their headers are written: obskit adds the trace context
 * and the request id there and nowhere else. A request that reaches `http.client.request.start`
 * unannounced (Node.js 20) is said once, at `warn`, with what is not traced and how to get it;
 * the watch stops at the first request either way, so it costs nothing after that.
 */
export function watchHttpAnnouncements(logger?: WarnLogger): void {
  const store = globalThis as Record<symbol, unknown>;
  if (store[kWatch] !== undefined) return;
  const watch: Watch = { said: false, done: false };
  store[kWatch] = watch;
  const announced = new WeakSet<object>();
  const onCreated = (message: unknown): void => {
    announced.add((message as { request: object }).request);
  };
  const onStart = (message: unknown): void => {
    if (watch.done) return;
    watch.done = true;
    diagnosticsChannel.unsubscribe(HTTP_CLIENT_CREATED, onCreated);
    diagnosticsChannel.unsubscribe(HTTP_CLIENT_START, onStart);
    if (announced.has((message as { request: object }).request)) return;
    watch.said = true;
    (logger ?? defaultLogger()).warn(
      { channel: HTTP_CLIENT_CREATED },
      'outgoing node:http calls carry no trace context, client span or request id on this Node.js: it announces a request only after its headers are written (Node.js 22.14 and later announce it before); fetch calls carry all three. On Node.js 20, trace node:http calls with @opentelemetry/instrumentation-http started in a preload of your own (node --import) before the application loads node:http',
    );
  };
  diagnosticsChannel.subscribe(HTTP_CLIENT_CREATED, onCreated);
  diagnosticsChannel.subscribe(HTTP_CLIENT_START, onStart);
}
