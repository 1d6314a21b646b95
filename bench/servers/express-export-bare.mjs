// Baseline of the span export configurations: Express alone.
import express from 'express';
import { expressRoutes, startExpress } from './_common.mjs';

const app = express();
app.disable('x-powered-by');
expressRoutes(app);
startExpress(app);
