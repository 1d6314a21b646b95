import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  requestContextOf,
  type RequestRecord,
  type ResponseEnder,
  type ResponseOutcome,
} from './request.js';

export type { ResponseOutcome } from './request.js';

export type ResponseDoneCallback = (outcome: ResponseOutcome, error?: Error) => void;

/**
 * The status code to report for a completed response: the one sent, 499 when the client went
 * away first, 500 when the response failed before its head was sent.
 */
export function statusOfOutcome(outcome: ResponseOutcome, res: ServerResponse): number {
  if (outcome === 'aborted') return 499;
  if (outcome === 'error' && !res.headersSent) return 500;
  return res.statusCode;
}

// One set of three listeners per response, the same functions for every response (the request
// is `res.req`, its record hangs off the request): nothing is allocated per request for them,
// and all three are removed when the first fires (the pino-http pattern), so nothing is told
// twice.
function onFinish(this: ServerResponse): void {
  complete(this, 'finished', undefined);
}
// `close` also follows a normal finish, but then `finish` has already fired and removed it. A
// response destroyed with an error by the server (`res.destroy(err)`) closes without an `error`
// event; `errored` tells it apart from a client that went away.
function onClose(this: ServerResponse): void {
  if (this.writableFinished) complete(this, 'finished', undefined);
  else if (this.errored) complete(this, 'error', this.errored);
  else complete(this, 'aborted', undefined);
}
function onError(this: ServerResponse, error: Error): void {
  complete(this, 'error', error);
}

function complete(res: ServerResponse, outcome: ResponseOutcome, error: Error | undefined): void {
  res.removeListener('finish', onFinish);
  res.removeListener('close', onClose);
  res.removeListener('error', onError);
  const record = requestContextOf(res.req);
  finish(res.req, res, record, outcome, error);
}

function finish(
  req: IncomingMessage,
  res: ServerResponse,
  record: RequestRecord,
  outcome: ResponseOutcome,
  error: Error | undefined,
): void {
  if (record.outcome !== undefined) return;
  record.outcome = outcome;
  record.failure = error;
  record.statusCode = record.upgraded ? 101 : statusOfOutcome(outcome, res);
  const enders = record.enders;
  if (enders === undefined) return;
  // One that throws does not keep the others from running; its error is thrown again after
  // them, as a throwing listener would be.
  let failed = false;
  let failure: unknown;
  for (let i = 0; i < enders.length; i++) {
    try {
      (enders[i] as ResponseEnder).end(req, res, record);
    } catch (e) {
      if (!failed) {
        failed = true;
        failure = e;
      }
    }
  }
  if (failed) throw failure;
}

/**
 * Tells `ender` once when `res` (the response to `req`) finishes, is closed before finishing,
 * or errors. Every ender of one response shares one set of three listeners and is told in the
 * order it was added; one added after the response is done is told at once.
 */
export function whenResponseDone(
  req: IncomingMessage,
  res: ServerResponse,
  record: RequestRecord,
  ender: ResponseEnder,
): void {
  if (record.outcome !== undefined) {
    ender.end(req, res, record);
    return;
  }
  let enders = record.enders;
  if (enders !== undefined) {
    enders.push(ender);
    return;
  }
  record.enders = enders = [ender];
  if (record.upgraded || res.writableFinished) {
    finish(req, res, record, 'finished', undefined);
    return;
  }
  if (res.destroyed) {
    if (res.errored) finish(req, res, record, 'error', res.errored);
    else finish(req, res, record, 'aborted', undefined);
    return;
  }
  res.on('finish', onFinish);
  res.on('close', onClose);
  res.on('error', onError);
}

class CallbackEnder implements ResponseEnder {
  constructor(private readonly callback: ResponseDoneCallback) {}
  end(_req: IncomingMessage, _res: ServerResponse, record: RequestRecord): void {
    if (record.outcome === 'error') this.callback('error', record.failure);
    else this.callback(record.outcome ?? 'finished');
  }
}

/**
 * Calls `callback` exactly once when `res` finishes, is closed before finishing, or errors,
 * through the same single listener set as the request's pipeline (`whenResponseDone`). For
 * integrations outside the pipeline (the drain tracking of a graceful shutdown); `req` must be
 * the request `res` answers.
 */
export function onResponseDone(
  req: IncomingMessage,
  res: ServerResponse,
  callback: ResponseDoneCallback,
): void {
  whenResponseDone(req, res, requestContextOf(req), new CallbackEnder(callback));
}

/**
 * Ends a request whose connection was upgraded (a WebSocket handshake answered `101`): its
 * enders are told now with status 101, as for a finished response, and nothing later on `res`
 * (its socket closing with the connection) counts again. For the integrations that hand an
 * upgraded connection on (`@obskit/websocket`).
 */
export function responseUpgraded(req: IncomingMessage, res: ServerResponse): void {
  const record = requestContextOf(req);
  if (record.upgraded) return;
  record.upgraded = true;
  res.statusCode = 101;
  if (record.enders === undefined || record.outcome !== undefined) return;
  res.removeListener('finish', onFinish);
  res.removeListener('close', onClose);
  res.removeListener('error', onError);
  finish(req, res, record, 'finished', undefined);
}
