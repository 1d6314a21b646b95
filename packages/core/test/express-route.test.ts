import { listen, waitFor } from '@obskit/test-support';
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
      const before = routes.length;
      await (await fetch(url + path)).text();
      // Read when the response is done, which may come just after the client has the body.
      await waitFor(() => routes.length > before, 5000, `the route of ${path}`);
    }
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

describe('trackExpressMounts', () => {
  it('installs one wrapper per Express module however often it is asked, and undoes it', () => {
    const Router = function Router() {} as unknown as { prototype: { use: () => string } };
    const use = function use() {
      return 'used';
    };
    Router.prototype.use = use;
    const undo = trackExpressMounts(Router);
    const wrapped = Router.prototype.use;
    expect(wrapped).not.toBe(use);
    expect(trackExpressMounts(Router)).toBe(undo);
    expect(Router.prototype.use).toBe(wrapped);
    expect(Router.prototype.use()).toBe('used');
    undo();
    expect(Router.prototype.use).toBe(use);
    // Installed again after the undo: a new wrapper, a new undo.
    const again = trackExpressMounts(Router);
    expect(again).not.toBe(undo);
    expect(Router.prototype.use).not.toBe(use);
    again();
    expect(Router.prototype.use).toBe(use);
  });
});
