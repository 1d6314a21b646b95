// Peer: the OpenTelemetry SDK as users assemble it (NodeTracerProvider, batch processor with its
// defaults, instrumentation-http + instrumentation-express), every request traced and exported
// over OTLP/HTTP (http/protobuf) to the same receiver in another process.
import { createRequire } from 'node:module';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { ExpressInstrumentation } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { counting, droppedSpans, reportOnExit, startReceiver } from './_export.mjs';

const receiver = await startReceiver();
const { counts, exporter } = counting(new OTLPTraceExporter({ url: receiver.url }));
const dropped = droppedSpans();
const provider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
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
const server = startExpress(app);
await reportOnExit(server, { counts, dropped, receiver, flush: () => provider.shutdown() });
