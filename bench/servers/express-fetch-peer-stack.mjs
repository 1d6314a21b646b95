// Peer, with one outgoing fetch per request: what users assemble today on Express — pino-http to /dev/null, express-prom-bundle, and
// the OpenTelemetry SDK with instrumentation-http + instrumentation-express.
import { createRequire } from 'node:module';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import pino from 'pino';
import { startPeerOtel } from './_otel.mjs';

startPeerOtel(new ExpressInstrumentation(), new UndiciInstrumentation());
const require = createRequire(import.meta.url);
const express = require('express');
const promBundle = require('express-prom-bundle');
const { pinoHttp } = require('pino-http');
const { expressFetchRoutes, startExpress } = await import('./_common.mjs');
const { startDownstream } = await import('./_downstream.mjs');
const app = express();
app.disable('x-powered-by');
app.use(pinoHttp({ logger: pino(pino.destination('/dev/null')) }));
app.use(promBundle({ includeMethod: true, includePath: true }));
expressFetchRoutes(app, await startDownstream());
startExpress(app);
