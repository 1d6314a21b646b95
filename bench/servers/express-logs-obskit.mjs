// Log volume: obskit's request ids and access line, and LOG_LINES application lines per request
// through `req.log` (a child of the obskit logger: reqId on every line), to /dev/null through
// obskit's logDestination, its default. Nothing else of obskit is on.
import { createLogger, logDestination } from '@obskit/core';
import express from 'express';
import { obskit } from 'obskit/express';
import { expressLogRoutes, startExpress } from './_common.mjs';

const logger = createLogger({ service: 'bench', destination: logDestination('/dev/null') });
const o = obskit({ service: 'bench', logger, tracing: false, metrics: false, health: false });
const app = express();
app.disable('x-powered-by');
app.use(o);
expressLogRoutes(app);
o.attach(startExpress(app));
