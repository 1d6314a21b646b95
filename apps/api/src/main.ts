// Starts the demo API. Tracing starts first so outgoing http calls are traced too; spans go to
// OTEL_EXPORTER_OTLP_ENDPOINT when it is set, nowhere otherwise.
import { startTracing } from '@obskit/tracing';

const env = process.env;
const otlp = Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
startTracing({
  serviceName: 'obskit-demo-api',
  ...(env.OTEL_TRACES_EXPORTER || otlp ? {} : { exporter: 'none' as const }),
});

const { buildApi } = await import('./app.js');
const app = await buildApi({
  dataDir: env.DATA_DIR ?? 'data',
  env,
});
await app.listen({ host: env.HOST ?? '127.0.0.1', port: Number(env.PORT ?? 3000) });
const { port } = app.server.address() as { port: number };
app.log.info({ port }, 'api listening');
