// Fastify with the obskit umbrella, everything on, and one outgoing node:http call (keep-alive agent) per request,
// left untraced (no client span, traceparent or x-request-id), the baseline of what tracing it costs. See _calling.mjs.
import { startCallingServer } from './_calling.mjs';

await startCallingServer('fastify', { call: 'http', traced: false });
