// Peer: the OpenTelemetry SDK assembled by hand — instrumentation-http + instrumentation-express,
// 100% sampled, batch processor, spans dropped. Express is loaded through require so the
// instrumentation's require hook patches it.
import { createRequire } from 'node:module';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { startPeerOtel } from './_otel.mjs';

startPeerOtel(new ExpressInstrumentation());
const require = createRequire(import.meta.url);
const express = require('express');
const { expressRoutes, startExpress } = await import('./_common.mjs');
const app = express();
app.disable('x-powered-by');
expressRoutes(app);
startExpress(app);
