// Log volume: obskit's request ids and access line, and LOG_LINES application lines per request
// through `request.log` (a child of the obskit logger: reqId on every line), to /dev/null
// through obskit's logDestination, its default. Nothing else of obskit is on.
import { createLogger, logDestination } from '@obskit/core';
import Fastify from 'fastify';
import { obskit, obskitServerOptions } from 'obskit/fastify';
import { fastifyLogRoutes, startFastify } from './_common.mjs';

const logger = createLogger({ service: 'bench', destination: logDestination('/dev/null') });
const options = { service: 'bench', logger, tracing: false, metrics: false, health: false };
const app = Fastify(obskitServerOptions(options));
await app.register(obskit, options);
fastifyLogRoutes(app);
await startFastify(app);
