// Express with the obskit umbrella as in express-obskit-full, but the access lines go through pino's
// default asynchronous destination (sonic-boom) instead of obskit's logDestination.
import { createLogger } from '@obskit/core';
import pino from 'pino';
import { droppingExporter } from './_otel.mjs';

const { startTracing } = await import('@obskit/tracing');
startTracing({ exporter: droppingExporter, sampleRatio: 1, serviceName: 'bench' });
const { default: express } = await import('express');
const { obskit } = await import('obskit/express');
const { expressRoutes, startExpress } = await import('./_common.mjs');
const logger = createLogger({ service: 'bench', destination: pino.destination('/dev/null') });
const o = obskit({ service: 'bench', logger, health: { shutdown: false } });
const app = express();
app.disable('x-powered-by');
app.use(o);
expressRoutes(app);
o.attach(startExpress(app));
