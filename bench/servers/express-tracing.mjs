// Express with @obskit/tracing only: 100% sampled, batch processor, spans dropped.
import { startTracing } from '@obskit/tracing';
import { droppingExporter } from './_otel.mjs';

startTracing({ exporter: droppingExporter, sampleRatio: 1, serviceName: 'bench' });
const { default: express } = await import('express');
const { tracing } = await import('@obskit/tracing/express');
const { expressRoutes, startExpress } = await import('./_common.mjs');
const app = express();
app.disable('x-powered-by');
app.use(tracing());
expressRoutes(app);
startExpress(app);
