// Bare Fastify whose two routes each make one outgoing node:http call (keep-alive agent): the baseline of the fastify-http-*
// configurations.
import Fastify from 'fastify';
import { fastifyFetchRoutes, httpGetJson, startFastify } from './_common.mjs';
import { startDownstream } from './_downstream.mjs';

const app = Fastify({ logger: false });
fastifyFetchRoutes(app, await startDownstream(), httpGetJson);
await startFastify(app);
