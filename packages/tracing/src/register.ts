// Preload: `node --import @obskit/tracing/register app.js` (ESM) or
// `node --require @obskit/tracing/register app.js` (CommonJS). Configured by the standard
// OTEL_* environment variables; flushes pending spans when the process ends.
import { startTracing } from './setup.js';

// Started before the application: its first requests are traced too.
const handle = startTracing();
const flush = (): void => {
  void handle.shutdown();
};
process.once('beforeExit', flush);
