// Express with the HTTP metrics recorded into prom-client's own Counter and Histogram (exemplars
// enabled) instead of obskit's store: the storage comparison of the metrics README.
import { expressRouteTemplate } from '@obskit/core/internal';
import express from 'express';
import { expressRoutes, startExpress } from './_common.mjs';
import { promClientRecorder } from './_prom-client-metrics.mjs';

const recorder = promClientRecorder();
const app = express();
app.disable('x-powered-by');
app.use((req, res, next) => {
  recorder.track(req, res, () => expressRouteTemplate(req));
  next();
});
expressRoutes(app);
startExpress(app);
