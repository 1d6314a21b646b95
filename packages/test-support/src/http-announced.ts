import diagnosticsChannel from 'node:diagnostics_channel';
import { ClientRequest, type ClientRequestArgs } from 'node:http';
import { Duplex } from 'node:stream';

let announced: boolean | undefined;

/**
 * Whether this Node.js announces an outgoing `node:http` request on `http.client.request.created`
 * before its headers are written (22.14 and later): what the tests expect of `node:http` calls
 * depends on it. Found once, by making one request object that never connects.
 */
export function httpRequestsAnnounced(): boolean {
  if (announced !== undefined) return announced;
  let seen = false;
  const listener = (): void => {
    seen = true;
  };
  diagnosticsChannel.subscribe('http.client.request.created', listener);
  const socket = new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
  try {
    const request = new ClientRequest({
      host: '127.0.0.1',
      agent: false,
      createConnection: () => socket,
    } as ClientRequestArgs);
    request.on('error', () => undefined);
    request.destroy();
  } finally {
    socket.destroy();
    diagnosticsChannel.unsubscribe('http.client.request.created', listener);
  }
  return (announced = seen);
}
