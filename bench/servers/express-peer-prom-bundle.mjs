// Peer: express-prom-bundle with method and path labels.
import express from 'express';
import promBundle from 'express-prom-bundle';
import { expressRoutes, startExpress } from './_common.mjs';

const app = express();
app.disable('x-powered-by');
app.use(promBundle({ includeMethod: true, includePath: true }));
expressRoutes(app);
startExpress(app);
