// Peer: fastify-metrics 13 with its defaults.
import Fastify from 'fastify';
import fastifyMetrics from 'fastify-metrics';
import { fastifyRoutes, startFastify } from './_common.mjs';

const app = Fastify({ logger: false });
await app.register(fastifyMetrics, { endpoint: '/metrics' });
fastifyRoutes(app);
await startFastify(app);
