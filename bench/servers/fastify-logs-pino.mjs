// Log volume, peer: Fastify's own request logging on pino, with the destination pino's
// documentation recommends for production (asynchronous, `minLength: 4096`, to /dev/null), and
// LOG_LINES application lines per request through `request.log`. Fastify writes two lines of its
// own per request ("incoming request", "request completed").
import Fastify from 'fastify';
import pino from 'pino';
import { fastifyLogRoutes, startFastify } from './_common.mjs';

const destination = pino.destination({ dest: '/dev/null', minLength: 4096, sync: false });
const app = Fastify({ loggerInstance: pino(destination) });
fastifyLogRoutes(app);
await startFastify(app);
