// Fastify with the obskit umbrella, everything on, and one outgoing fetch per request,
// left untraced (no client span, traceparent or x-request-id), the baseline of what tracing it costs. See _calling.mjs.
import { startCallingServer } from './_calling.mjs';

await startCallingServer('fastify', { call: 'fetch', traced: false });
