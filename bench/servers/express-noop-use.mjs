// Bare Express with one no-op middleware in front of the routes: what a single `app.use` costs,
// and whether it changes the router's per-route cost (the `--routes` scale run).
import express from 'express';
import { expressRoutes, startExpress } from './_common.mjs';

const app = express();
app.disable('x-powered-by');
app.use((_req, _res, next) => next());
expressRoutes(app);
startExpress(app);
