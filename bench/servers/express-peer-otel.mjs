// Peer: the OpenTelemetry SDK assembled by hand — instrumentation-http + instrumentation-express,
// 100% sampled, batch processor, spans dropped. Express is loaded through require so the
// instrumentation's require hook patches it.
import { createRequire } from 'node:module';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { droppingExporter } from './_otel.mjs';

const provider = new NodeTracerProvider({
  spanProcessors: [new BatchSpanProcessor(droppingExporter)],
});
provider.register();
registerInstrumentations({
  instrumentations: [new HttpInstrumentation(), new ExpressInstrumentation()],
});
const require = createRequire(import.meta.url);
const express = require('express');
const { expressRoutes, startExpress } = await import('./_common.mjs');
const app = express();
app.disable('x-powered-by');
expressRoutes(app);
startExpress(app);
