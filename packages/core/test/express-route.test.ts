import { listen } from '@obskit/test-support';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { expressRouteTemplate, onResponseDone, trackExpressMounts } from '../src/internal.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

describe('expressRouteTemplate', () => {
  it('joins router mount templates and the route path, read when the response is done', async () => {
    trackExpressMounts(express.Router);
    const app = express();
    const routes: (string | undefined)[] = [];
    app.use((req, res, next) => {
      onResponseDone(req, res, () => routes.push(expressRouteTemplate(req)));
      next();
    });
    const users = express.Router({ mergeParams: true });
    users.get('/users/:id', (req, res) => {
      res.json(req.params);
    });
    users.get('/', (_req, res) => {
      res.send('root');
    });
    const tenants = express.Router({ mergeParams: true });
    tenants.use('/tenants/:tenant', users);
    // A router that matches the prefix but falls through must not leave its prefix behind.
    const empty = express.Router();
    empty.get('/nothing', (_req, res) => {
      res.send('x');
    });
    app.use('/v1', empty);
    app.use('/v1', users);
    app.use('/v2/', tenants);
    app.get('/plain/:x', (_req, res) => {
      res.send('plain');
    });
    const { url, close } = await listen(app);
    closers.push(close);

    for (const path of [
      '/v1/users/7',
      '/v2/tenants/acme/users/9',
      '/v1',
      '/plain/1',
      '/nope',
      '/v1/nope',
    ]) {
      await (await fetch(url + path)).text();
    }
    await new Promise((r) => setTimeout(r, 20));
    expect(routes).toEqual([
      '/v1/users/:id',
      '/v2/tenants/:tenant/users/:id',
      '/v1',
      '/plain/:x',
      undefined,
      undefined,
    ]);
  });
});
