// Fastify with the obskit umbrella as in fastify-obskit-full, but the access lines go through pino's
// default asynchronous destination (sonic-boom) instead of obskit's logDestination.
import { createLogger } from '@obskit/core';
import pino from 'pino';
import { droppingExporter } from './_otel.mjs';

const { startTracing } = await import('@obskit/tracing');
startTracing({ exporter: droppingExporter, sampleRatio: 1, serviceName: 'bench' });
const { default: Fastify } = await import('fastify');
const { obskit, obskitServerOptions } = await import('obskit/fastify');
const { fastifyRoutes, startFastify } = await import('./_common.mjs');
const logger = createLogger({ service: 'bench', destination: pino.destination('/dev/null') });
const options = { service: 'bench', logger, health: { shutdown: false } };
const app = Fastify(obskitServerOptions(options));
await app.register(obskit, options);
fastifyRoutes(app);
await startFastify(app);
