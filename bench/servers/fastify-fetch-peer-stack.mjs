// Peer, with one outgoing fetch per request: what users assemble today on Fastify — Fastify's pino request logging to /dev/null,
// fastify-metrics, and the OpenTelemetry SDK with instrumentation-http + @fastify/otel.
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import pino from 'pino';
import { startPeerOtel } from './_otel.mjs';

const fastifyOtel = new FastifyOtelInstrumentation();
startPeerOtel(fastifyOtel, new UndiciInstrumentation());
const { default: Fastify } = await import('fastify');
const { default: fastifyMetrics } = await import('fastify-metrics');
const { fastifyFetchRoutes, startFastify } = await import('./_common.mjs');
const { startDownstream } = await import('./_downstream.mjs');
const app = Fastify({ loggerInstance: pino(pino.destination('/dev/null')) });
await app.register(fastifyOtel.plugin());
await app.register(fastifyMetrics, { endpoint: '/metrics' });
fastifyFetchRoutes(app, await startDownstream());
await startFastify(app);
