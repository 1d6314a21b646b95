// Log volume, peer: pino-http on pino with the destination pino's documentation recommends for
// production (asynchronous, `minLength: 4096`, to /dev/null), and LOG_LINES application lines
// per request through `req.log`. pino-http writes one line of its own per request.
import express from 'express';
import pino from 'pino';
import { pinoHttp } from 'pino-http';
import { expressLogRoutes, startExpress } from './_common.mjs';

const destination = pino.destination({ dest: '/dev/null', minLength: 4096, sync: false });
const app = express();
app.disable('x-powered-by');
app.use(pinoHttp({ logger: pino(destination) }));
expressLogRoutes(app);
startExpress(app);
