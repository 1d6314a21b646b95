// Peer: the OpenTelemetry SDK assembled by hand — instrumentation-http + @fastify/otel,
// 100% sampled, batch processor, spans dropped.
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { startPeerOtel } from './_otel.mjs';

const fastifyOtel = new FastifyOtelInstrumentation();
startPeerOtel(fastifyOtel);
const { default: Fastify } = await import('fastify');
const { fastifyRoutes, startFastify } = await import('./_common.mjs');
const app = Fastify({ logger: false });
await app.register(fastifyOtel.plugin());
fastifyRoutes(app);
await startFastify(app);
