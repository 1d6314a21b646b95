// Fastify with the HTTP metrics recorded into prom-client's own Counter and Histogram (exemplars
// enabled) instead of obskit's store: the storage comparison of the metrics README.
import Fastify from 'fastify';
import { fastifyRoutes, startFastify } from './_common.mjs';
import { promClientRecorder } from './_prom-client-metrics.mjs';

const recorder = promClientRecorder();
const app = Fastify({ logger: false });
app.addHook('onRequest', (request, reply, next) => {
  recorder.track(request.raw, reply.raw, () => request.routeOptions.url);
  next();
});
app.get('/metrics', async (_request, reply) =>
  reply.type('text/plain').send(await recorder.registry.metrics()),
);
fastifyRoutes(app);
await startFastify(app);
