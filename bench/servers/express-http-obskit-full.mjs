// Express with the obskit umbrella, everything on, and one outgoing node:http call (keep-alive agent) per request,
// traced (a client span, traceparent and x-request-id). See _calling.mjs.
import { startCallingServer } from './_calling.mjs';

await startCallingServer('express', { call: 'http', traced: true });
