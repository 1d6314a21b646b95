// Express with @obskit/request-id only.
import { requestId } from '@obskit/request-id/express';
import express from 'express';
import { expressRoutes, startExpress } from './_common.mjs';

const app = express();
app.disable('x-powered-by');
app.use(requestId());
expressRoutes(app);
startExpress(app);
