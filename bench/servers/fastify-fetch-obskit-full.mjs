// Fastify with the obskit umbrella, everything on, and one outgoing fetch per request, traced (a
// client span, traceparent and x-request-id). See _calling.mjs.
import { startCallingServer } from './_calling.mjs';

await startCallingServer('fastify', { call: 'fetch', traced: true });
