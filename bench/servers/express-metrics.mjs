// Express with @obskit/metrics only (defaults: runtime metrics on, /metrics served).
import { metrics } from '@obskit/metrics/express';
import express from 'express';
import { expressRoutes, startExpress } from './_common.mjs';

const app = express();
app.disable('x-powered-by');
app.use(metrics());
expressRoutes(app);
startExpress(app);
