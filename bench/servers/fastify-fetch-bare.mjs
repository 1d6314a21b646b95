// Bare Fastify whose two routes each make one outgoing fetch: the baseline of the fastify-fetch-*
// configurations.
import Fastify from 'fastify';
import { fastifyFetchRoutes, startFastify } from './_common.mjs';
import { startDownstream } from './_downstream.mjs';

const app = Fastify({ logger: false });
fastifyFetchRoutes(app, await startDownstream());
await startFastify(app);
