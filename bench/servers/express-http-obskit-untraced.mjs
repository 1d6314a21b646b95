// Express with the obskit umbrella, everything on, and one outgoing node:http call (keep-alive agent) per request left
// untraced (`tracing.outgoing: false`, `requestId.propagate: false`: no client span, no
// traceparent, no x-request-id): what obskit full costs without tracing the call, the baseline
// of what tracing one call adds inside an obskit server.
import { createLogger, logDestination } from '@obskit/core';
import { droppingExporter } from './_otel.mjs';

const { startTracing } = await import('@obskit/tracing');
startTracing({ exporter: droppingExporter, sampleRatio: 1, serviceName: 'bench', outgoing: false });
const { default: express } = await import('express');
const { obskit } = await import('obskit/express');
const { expressFetchRoutes, httpGetJson, startExpress } = await import('./_common.mjs');
const { startDownstream } = await import('./_downstream.mjs');
const logger = createLogger({ service: 'bench', destination: logDestination('/dev/null') });
const o = obskit({
  service: 'bench',
  logger,
  health: { shutdown: false },
  requestId: { propagate: false },
});
const app = express();
app.disable('x-powered-by');
app.use(o);
expressFetchRoutes(app, await startDownstream(), httpGetJson);
o.attach(startExpress(app));
