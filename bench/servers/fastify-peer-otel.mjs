// Peer: the OpenTelemetry SDK assembled by hand — instrumentation-http + @fastify/otel,
// 100% sampled, batch processor, spans dropped.
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { droppingExporter } from './_otel.mjs';

const provider = new NodeTracerProvider({
  spanProcessors: [new BatchSpanProcessor(droppingExporter)],
});
provider.register();
const fastifyOtel = new FastifyOtelInstrumentation();
registerInstrumentations({ instrumentations: [new HttpInstrumentation(), fastifyOtel] });
const { default: Fastify } = await import('fastify');
const { fastifyRoutes, startFastify } = await import('./_common.mjs');
const app = Fastify({ logger: false });
await app.register(fastifyOtel.plugin());
fastifyRoutes(app);
await startFastify(app);
