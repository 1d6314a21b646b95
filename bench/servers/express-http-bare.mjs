// Bare Express whose two routes each make one outgoing node:http call (keep-alive agent): the baseline of the express-http-*
// configurations.
import express from 'express';
import { expressFetchRoutes, httpGetJson, startExpress } from './_common.mjs';
import { startDownstream } from './_downstream.mjs';

const app = express();
app.disable('x-powered-by');
expressFetchRoutes(app, await startDownstream(), httpGetJson);
startExpress(app);
