// Fastify with @obskit/tracing only: 100% sampled, batch processor, spans dropped.
import { startTracing } from '@obskit/tracing';
import { droppingExporter } from './_otel.mjs';

startTracing({ exporter: droppingExporter, sampleRatio: 1, serviceName: 'bench' });
const { default: Fastify } = await import('fastify');
const { tracing } = await import('@obskit/tracing/fastify');
const { fastifyRoutes, startFastify } = await import('./_common.mjs');
const app = Fastify({ logger: false });
await app.register(tracing);
fastifyRoutes(app);
await startFastify(app);
