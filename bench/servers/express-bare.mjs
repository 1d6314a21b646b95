// Bare Express: the baseline every Express configuration is compared with.
import express from 'express';
import { expressRoutes, startExpress } from './_common.mjs';

const app = express();
app.disable('x-powered-by');
expressRoutes(app);
startExpress(app);
