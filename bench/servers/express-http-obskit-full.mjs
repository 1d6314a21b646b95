// Express with the obskit umbrella, everything on, and one outgoing node:http call (keep-alive agent) per request (traced,
// carrying traceparent and x-request-id): request ids, tracing (100% sampled, batch
// processor, spans dropped), metrics, health, one access log line per request to /dev/null through
// obskit's logDestination (the obskit logger's default destination).
import { createLogger, logDestination } from '@obskit/core';
import { droppingExporter } from './_otel.mjs';

const { startTracing } = await import('@obskit/tracing');
startTracing({ exporter: droppingExporter, sampleRatio: 1, serviceName: 'bench' });
const { default: express } = await import('express');
const { obskit } = await import('obskit/express');
const { expressFetchRoutes, httpGetJson, startExpress } = await import('./_common.mjs');
const { startDownstream } = await import('./_downstream.mjs');
const logger = createLogger({ service: 'bench', destination: logDestination('/dev/null') });
const o = obskit({ service: 'bench', logger, health: { shutdown: false } });
const app = express();
app.disable('x-powered-by');
app.use(o);
expressFetchRoutes(app, await startDownstream(), httpGetJson);
o.attach(startExpress(app));
