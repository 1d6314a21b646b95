// The obskit full servers that make one outgoing call per request (the *-fetch-obskit-* and
// *-http-obskit-* configurations): request ids, tracing (100% sampled, batch processor, spans
// dropped), metrics, health, one access log line per request to /dev/null through obskit's
// logDestination. `call`: 'fetch' or 'http' (node:http through a keep-alive agent); `traced`:
// false leaves the call without a client span, traceparent or x-request-id
// (`tracing.outgoing: false`, `requestId.propagate: false`).
import { createLogger, logDestination } from '@obskit/core';
import { droppingExporter } from './_otel.mjs';

export async function startCallingServer(framework, { call, traced }) {
  const { startTracing } = await import('@obskit/tracing');
  startTracing({
    exporter: droppingExporter,
    sampleRatio: 1,
    serviceName: 'bench',
    ...(traced ? {} : { outgoing: false }),
  });
  const common = await import('./_common.mjs');
  const { startDownstream } = await import('./_downstream.mjs');
  const get = call === 'http' ? common.httpGetJson : common.fetchJson;
  const logger = createLogger({ service: 'bench', destination: logDestination('/dev/null') });
  const options = {
    service: 'bench',
    logger,
    health: { shutdown: false },
    ...(traced ? {} : { requestId: { propagate: false } }),
  };
  if (framework === 'fastify') {
    const { default: Fastify } = await import('fastify');
    const { obskit, obskitServerOptions } = await import('obskit/fastify');
    const app = Fastify(obskitServerOptions(options));
    await app.register(obskit, options);
    common.fastifyFetchRoutes(app, await startDownstream(), get);
    await common.startFastify(app);
    return;
  }
  const { default: express } = await import('express');
  const { obskit } = await import('obskit/express');
  const o = obskit(options);
  const app = express();
  app.disable('x-powered-by');
  app.use(o);
  common.expressFetchRoutes(app, await startDownstream(), get);
  o.attach(common.startExpress(app));
}
