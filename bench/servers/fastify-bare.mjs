// Bare Fastify: the baseline every Fastify configuration is compared with.
import Fastify from 'fastify';
import { fastifyRoutes, startFastify } from './_common.mjs';

const app = Fastify({ logger: false });
fastifyRoutes(app);
await startFastify(app);
