// Fastify with the obskit umbrella, every request traced (100 %) and its span exported over
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
const { default: Fastify } = await import('fastify');
const { obskit, obskitServerOptions } = await import('obskit/fastify');
const { fastifyRoutes, startFastify } = await import('./_common.mjs');
const logger = createLogger({ service: 'bench', destination: logDestination('/dev/null') });
const options = { service: 'bench', logger, health: { shutdown: false } };
const app = Fastify(obskitServerOptions(options));
await app.register(obskit, options);
fastifyRoutes(app);
await startFastify(app);
await reportOnExit(app.server, {
  counts,
  dropped,
  receiver,
  flush: () => getTracingHandle().shutdown(),
});
