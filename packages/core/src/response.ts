import type { IncomingMessage, ServerResponse } from 'node:http';
import { requestContextOf } from './request.js';

/**
 * How a response ended: `finished` (the last byte was handed to the OS), `aborted` (the client
 * closed the connection first) or `error` (the response stream failed).
 */
export type ResponseOutcome = 'finished' | 'aborted' | 'error';

export type ResponseDoneCallback = (outcome: ResponseOutcome, error?: Error) => void;

// The pending callbacks of a response live in its request's context, the one object obskit
// keeps per request.
const kCallbacks = Symbol.for('obskit.core.responseDone');

interface Pending {
  callbacks: ResponseDoneCallback[];
  fired: boolean;
  done?: (outcome: ResponseOutcome) => void;
}

// Set on the request's context once its connection was upgraded (WebSocket).
const kUpgraded = Symbol.for('obskit.core.responseUpgraded');

/**
 * Calls `callback` exactly once when `res` finishes, is closed before finishing, or errors, and
 * removes its listeners when the first one fires (the pino-http pattern), so nothing is counted
 * twice. Every callback registered for one response shares a single set of three listeners and
 * runs in registration order; one that throws does not keep the others from running (its error
 * is thrown again after them, as a throwing listener would be). The callbacks are kept in the
 * request's context (`requestContextOf(req)`), so `req` must be the request `res` answers.
 */
export function onResponseDone(
  req: IncomingMessage,
  res: ServerResponse,
  callback: ResponseDoneCallback,
): void {
  if (res.writableFinished) {
    callback('finished');
    return;
  }
  if (res.destroyed) {
    if (res.errored) callback('error', res.errored);
    else callback('aborted');
    return;
  }
  const context = requestContextOf(req);
  if (context[kUpgraded] === true) {
    callback('finished');
    return;
  }
  const pending = context[kCallbacks] as Pending | undefined;
  if (pending !== undefined && !pending.fired) {
    pending.callbacks.push(callback);
    return;
  }
  const callbacks = [callback];
  const state: Pending = { callbacks, fired: false };
  context[kCallbacks] = state;
  const done = (outcome: ResponseOutcome, error?: Error): void => {
    res.removeListener('finish', onFinish);
    res.removeListener('close', onClose);
    res.removeListener('error', onError);
    state.fired = true;
    let failed = false;
    let failure: unknown;
    for (const fn of callbacks) {
      try {
        fn(outcome, error);
      } catch (e) {
        if (!failed) {
          failed = true;
          failure = e;
        }
      }
    }
    if (failed) throw failure;
  };
  state.done = done;
  const onFinish = (): void => done('finished');
  // `close` also follows a normal finish, but then `finish` has already fired and removed it. A
  // response destroyed with an error by the server (`res.destroy(err)`) closes without an
  // `error` event; `errored` tells it apart from a client that went away.
  const onClose = (): void => {
    if (res.writableFinished) done('finished');
    else if (res.errored) done('error', res.errored);
    else done('aborted');
  };
  const onError = (error: Error): void => done('error', error);
  res.on('finish', onFinish);
  res.on('close', onClose);
  res.on('error', onError);
}

/**
 * The status code to report for a completed response: the one sent, 499 when the client went
 * away first, 500 when the response failed before its head was sent.
 */
export function statusOfOutcome(outcome: ResponseOutcome, res: ServerResponse): number {
  if (outcome === 'aborted') return 499;
  if (outcome === 'error' && !res.headersSent) return 500;
  return res.statusCode;
}

/**
 * Ends a request whose connection was upgraded (a WebSocket handshake answered `101`): its
 * `onResponseDone` callbacks run now with status 101, as for a finished response, and nothing
 * later on `res` (its socket closing with the connection) counts again. For the integrations that
 * hand an upgraded connection on (`@obskit/websocket`).
 */
export function responseUpgraded(req: IncomingMessage, res: ServerResponse): void {
  const context = requestContextOf(req);
  if (context[kUpgraded] === true) return;
  context[kUpgraded] = true;
  res.statusCode = 101;
  const pending = context[kCallbacks] as Pending | undefined;
  if (pending !== undefined && !pending.fired) pending.done?.('finished');
}
