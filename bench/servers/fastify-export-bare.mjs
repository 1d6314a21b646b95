// Baseline of the span export configurations: Fastify alone.
import Fastify from 'fastify';
import { fastifyRoutes, startFastify } from './_common.mjs';

const app = Fastify();
fastifyRoutes(app);
await startFastify(app);
