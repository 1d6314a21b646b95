// Baseline of the log volume configurations: Fastify, no logging.
import Fastify from 'fastify';
import { fastifyRoutes, startFastify } from './_common.mjs';

const app = Fastify();
fastifyRoutes(app);
await startFastify(app);
