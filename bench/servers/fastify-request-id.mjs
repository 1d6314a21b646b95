// Fastify with @obskit/request-id only (server options + plugin).
import { requestId, requestIdServerOptions } from '@obskit/request-id/fastify';
import Fastify from 'fastify';
import { fastifyRoutes, startFastify } from './_common.mjs';

const app = Fastify({ logger: false, ...requestIdServerOptions() });
await app.register(requestId);
fastifyRoutes(app);
await startFastify(app);
