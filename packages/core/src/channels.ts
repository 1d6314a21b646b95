import diagnosticsChannel from 'node:diagnostics_channel';
import type * as Http from 'node:http';
import { createRequire } from 'node:module';
import { Duplex } from 'node:stream';

const HTTP_CREATED = 'http.client.request.created';

let announced: boolean | undefined;

/**
 * Whether this Node.js announces an outgoing `node:http` request on the diagnostics channel
 * `http.client.request.created` before its headers are written (Node.js 22.14 and later), so
 * that headers can be added to it without patching. Found once, by making one request object
 * that never connects.
 */
export function httpClientRequestCreated(): boolean {
  if (announced !== undefined) return announced;
  let seen = false;
  const listener = (): void => {
    seen = true;
  };
  diagnosticsChannel.subscribe(HTTP_CREATED, listener);
  const socket = new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
  try {
    // Loaded here, not when obskit is: tracing started in code before the application loads
    // node:http can still have it patched where it must be (Node.js 20).
    const { ClientRequest } = createRequire(import.meta.url)('node:http') as typeof Http;
    const request = new ClientRequest({
      host: '127.0.0.1',
      agent: false,
      createConnection: () => socket,
    } as Http.ClientRequestArgs);
    request.on('error', () => undefined);
    request.destroy();
  } finally {
    socket.destroy();
    diagnosticsChannel.unsubscribe(HTTP_CREATED, listener);
  }
  return (announced = seen);
}
