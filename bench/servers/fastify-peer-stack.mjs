// Peer: what users assemble today on Fastify — Fastify's pino request logging to /dev/null,
// fastify-metrics, and the OpenTelemetry SDK with instrumentation-http + @fastify/otel.
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import pino from 'pino';
import { droppingExporter } from './_otel.mjs';

const provider = new NodeTracerProvider({
  spanProcessors: [new BatchSpanProcessor(droppingExporter)],
});
provider.register();
const fastifyOtel = new FastifyOtelInstrumentation();
registerInstrumentations({ instrumentations: [new HttpInstrumentation(), fastifyOtel] });
const { default: Fastify } = await import('fastify');
const { default: fastifyMetrics } = await import('fastify-metrics');
const { fastifyRoutes, startFastify } = await import('./_common.mjs');
const app = Fastify({ loggerInstance: pino(pino.destination('/dev/null')) });
await app.register(fastifyOtel.plugin());
await app.register(fastifyMetrics, { endpoint: '/metrics' });
fastifyRoutes(app);
await startFastify(app);
