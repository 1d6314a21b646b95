// Peer: the OpenTelemetry SDK as users assemble it (NodeTracerProvider, batch processor with its
// defaults, instrumentation-http + @fastify/otel), every request traced and exported over
// OTLP/HTTP (http/protobuf) to the same receiver in another process.
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { counting, droppedSpans, reportOnExit, startReceiver } from './_export.mjs';

const receiver = await startReceiver();
const { counts, exporter } = counting(new OTLPTraceExporter({ url: receiver.url }));
const dropped = droppedSpans();
const provider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
provider.register();
const fastifyOtel = new FastifyOtelInstrumentation();
registerInstrumentations({ instrumentations: [new HttpInstrumentation(), fastifyOtel] });
const { default: Fastify } = await import('fastify');
const { fastifyRoutes, startFastify } = await import('./_common.mjs');
const app = Fastify();
await app.register(fastifyOtel.plugin());
fastifyRoutes(app);
await startFastify(app);
await reportOnExit(app.server, { counts, dropped, receiver, flush: () => provider.shutdown() });
