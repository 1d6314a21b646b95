import { request as httpRequest } from 'node:http';
import { listen, waitFor } from '@obskit/test-support';
import { afterEach, describe, expect, it } from 'vitest';
import { onResponseDone, type ResponseOutcome } from '../src/internal.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

describe('onResponseDone', () => {
  it('reports a finished response exactly once and removes its listeners', async () => {
    const outcomes: ResponseOutcome[] = [];
    let listeners = -1;
    const { url, close } = await listen((req, res) => {
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
    await new Promise((r) => setTimeout(r, 50));
    expect(outcomes).toEqual(['finished']);
    expect(listeners).toBe(0);
  });

  it('reports aborted when the client destroys the socket mid-response', async () => {
    const outcomes: ResponseOutcome[] = [];
    const { port, close } = await listen((req, res) => {
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
    await new Promise((r) => setTimeout(r, 50));
    expect(outcomes).toEqual(['aborted']);
  });

  it('reports an errored response once, with the error', async () => {
    const outcomes: [ResponseOutcome, string | undefined][] = [];
    const { url, close } = await listen((req, res) => {
      onResponseDone(req, res, (outcome, error) => outcomes.push([outcome, error?.message]));
      res.write('partial');
      res.destroy(new Error('disk gone'));
    });
    closers.push(close);
    await fetch(url)
      .then((r) => r.text())
      .catch(() => undefined);
    await waitFor(() => outcomes.length > 0);
    await new Promise((r) => setTimeout(r, 50));
    expect(outcomes).toEqual([['error', 'disk gone']]);
  });

  it('calls back at once for a response that already finished', async () => {
    const outcomes: ResponseOutcome[] = [];
    const { url, close } = await listen((req, res) => {
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
    await new Promise((r) => setTimeout(r, 50));
    expect(added).toBe(3);
    expect(calls).toEqual(['a:finished', 'b', 'c:finished']);
    expect((caught as Error | undefined)?.message).toBe('callback b failed');
  });
});
