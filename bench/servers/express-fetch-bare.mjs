// Bare Express whose two routes each make one outgoing fetch: the baseline of the express-fetch-*
// configurations.
import express from 'express';
import { expressFetchRoutes, startExpress } from './_common.mjs';
import { startDownstream } from './_downstream.mjs';

const app = express();
app.disable('x-powered-by');
expressFetchRoutes(app, await startDownstream());
startExpress(app);
