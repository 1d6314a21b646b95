// Fastify with @obskit/metrics only (defaults: runtime metrics on, /metrics served).
import { metrics } from '@obskit/metrics/fastify';
import Fastify from 'fastify';
import { fastifyRoutes, startFastify } from './_common.mjs';

const app = Fastify({ logger: false });
await app.register(metrics);
fastifyRoutes(app);
await startFastify(app);
