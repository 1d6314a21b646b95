import { once } from 'node:events';
import { request as httpRequest, type ServerResponse } from 'node:http';
import { listen, waitFor } from '@obskit/test-support';
import { afterEach, describe, expect, it } from 'vitest';
import {
  onResponseDone,
  requestContextOf,
  whenResponseDone,
  type ResponseOutcome,
} from '../src/internal.js';

const closers: (() => Promise<unknown>)[] = [];
const responses: ServerResponse[] = [];
/**
 * Resolves once every response the test's server made has closed, the last event a response
 * emits, and its listeners have run: nothing can be reported after that.
 */
async function allClosed(): Promise<void> {
  for (const res of responses.splice(0)) if (!res.closed) await once(res, 'close');
  await new Promise<void>((resolve) => setImmediate(resolve));
}
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

describe('onResponseDone', () => {
  it('reports a finished response exactly once and removes its listeners', async () => {
    const outcomes: ResponseOutcome[] = [];
    let listeners = -1;
    const { url, close } = await listen((req, res) => {
      responses.push(res);
      const before =
        res.listenerCount('finish') + res.listenerCount('close') + res.listenerCount('error');
      onResponseDone(req, res, (outcome) => {
        outcomes.push(outcome);
        // Listener removal happens before the callback runs.
        listeners =
          res.listenerCount('finish') +
          res.listenerCount('close') +
          res.listenerCount('error') -
          before;
      });
      res.end('ok');
    });
    closers.push(close);
    expect(await (await fetch(url)).text()).toBe('ok');
    await waitFor(() => outcomes.length > 0);
    await allClosed();
    expect(outcomes).toEqual(['finished']);
    expect(listeners).toBe(0);
  });

  it('reports aborted when the client destroys the socket mid-response', async () => {
    const outcomes: ResponseOutcome[] = [];
    const { port, close } = await listen((req, res) => {
      responses.push(res);
      onResponseDone(req, res, (outcome) => outcomes.push(outcome));
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first part');
      // The rest never comes: the client goes away first.
    });
    closers.push(close);
    await new Promise<void>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/' }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.end();
    });
    await waitFor(() => outcomes.length > 0, 5000, 'abort');
    await allClosed();
    expect(outcomes).toEqual(['aborted']);
  });

  it('reports an errored response once, with the error', async () => {
    const outcomes: [ResponseOutcome, string | undefined][] = [];
    const { url, close } = await listen((req, res) => {
      responses.push(res);
      onResponseDone(req, res, (outcome, error) => outcomes.push([outcome, error?.message]));
      res.write('partial');
      res.destroy(new Error('disk gone'));
    });
    closers.push(close);
    await fetch(url)
      .then((r) => r.text())
      .catch(() => undefined);
    await waitFor(() => outcomes.length > 0);
    await allClosed();
    expect(outcomes).toEqual([['error', 'disk gone']]);
  });

  it('calls back at once for a response that already finished', async () => {
    const outcomes: ResponseOutcome[] = [];
    const { url, close } = await listen((req, res) => {
      responses.push(res);
      res.end('done', () => {
        onResponseDone(req, res, (outcome) => outcomes.push(outcome));
      });
    });
    closers.push(close);
    await (await fetch(url)).text();
    await waitFor(() => outcomes.length > 0);
    expect(outcomes).toEqual(['finished']);
  });

  it('shares one set of listeners between callbacks, runs them in order, survives a throw', async () => {
    const calls: string[] = [];
    let added = -1;
    let caught: unknown;
    const { url, close } = await listen((req, res) => {
      responses.push(res);
      const before =
        res.listenerCount('finish') + res.listenerCount('close') + res.listenerCount('error');
      onResponseDone(req, res, (outcome) => calls.push(`a:${outcome}`));
      onResponseDone(req, res, () => {
        calls.push('b');
        throw new Error('callback b failed');
      });
      onResponseDone(req, res, (outcome) => calls.push(`c:${outcome}`));
      added =
        res.listenerCount('finish') +
        res.listenerCount('close') +
        res.listenerCount('error') -
        before;
      // The first failing callback is thrown again after all ran, from the 'finish' listener.
      const emit = res.emit.bind(res);
      res.emit = ((event: string, ...args: unknown[]) => {
        try {
          return emit(event, ...args);
        } catch (error) {
          caught = error;
          return true;
        }
      }) as typeof res.emit;
      res.end('ok');
    });
    closers.push(close);
    await (await fetch(url)).text();
    await waitFor(() => calls.length >= 3);
    await allClosed();
    expect(added).toBe(3);
    expect(calls).toEqual(['a:finished', 'b', 'c:finished']);
    expect((caught as Error | undefined)?.message).toBe('callback b failed');
  });

  it.each([
    ['finished', (res: ServerResponse) => res.end('ok'), 200],
    ['failed before its head', (res: ServerResponse) => res.destroy(new Error('boom')), 500],
    [
      'failed after its head',
      (res: ServerResponse) => {
        res.writeHead(201);
        res.write('partial');
        res.destroy(new Error('boom'));
      },
      201,
    ],
  ] as const)('reports the status of a response %s', async (_what, respond, status) => {
    const seen: (number | undefined)[] = [];
    const { url, close } = await listen((req, res) => {
      responses.push(res);
      const record = requestContextOf(req);
      whenResponseDone(req, res, record, { end: (_q, _s, r) => seen.push(r.statusCode) });
      respond(res);
    });
    closers.push(close);
    await fetch(url)
      .then((r) => r.text())
      .catch(() => undefined);
    await waitFor(() => seen.length > 0);
    await allClosed();
    expect(seen).toEqual([status]);
  });
});
