// Express with the obskit umbrella, every request traced (100 %) and its span exported over
// OTLP/HTTP (http/protobuf, obskit's default, with the batch processor's defaults) to a real
// receiver in another process. At exit: spans exported, dropped, and what the receiver saw.
import { createLogger, logDestination } from '@obskit/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { counting, droppedSpans, reportOnExit, startReceiver } from './_export.mjs';

const receiver = await startReceiver();
const { counts, exporter } = counting(new OTLPTraceExporter({ url: receiver.url }));
const dropped = droppedSpans();
const { startTracing, getTracingHandle } = await import('@obskit/tracing');
startTracing({ exporter, sampleRatio: 1, serviceName: 'bench' });
const { default: express } = await import('express');
const { obskit } = await import('obskit/express');
const { expressRoutes, startExpress } = await import('./_common.mjs');
const logger = createLogger({ service: 'bench', destination: logDestination('/dev/null') });
const o = obskit({ service: 'bench', logger, health: { shutdown: false } });
const app = express();
app.disable('x-powered-by');
app.use(o);
expressRoutes(app);
const server = o.attach(startExpress(app));
await reportOnExit(server, {
  counts,
  dropped,
  receiver,
  flush: () => getTracingHandle().shutdown(),
});
