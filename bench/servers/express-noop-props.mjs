// Bare Express with one middleware that adds to `req` what obskit adds (its record under a
// symbol, `id`, `log`): whether the properties themselves change the router's per-route cost.
import express from 'express';
import { expressRoutes, startExpress } from './_common.mjs';

const kRecord = Symbol.for('obskit.core.requestContext');
const log = { info() {} };
let n = 0;
const app = express();
app.disable('x-powered-by');
app.use((req, _res, next) => {
  req[kRecord] = { reqId: String(++n) };
  req.id = String(n);
  req.log = log;
  next();
});
expressRoutes(app);
startExpress(app);
