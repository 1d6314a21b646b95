// A tiny obskit example: a Fastify server whose logs carry the obskit vocabulary. It prints its
// URL and stops on Ctrl-C.
import Fastify from 'fastify';
import {
  createLogger,
  requestContextOf,
  runInRequestContext,
} from '../packages/core/dist/index.js';

const logger = createLogger({ service: 'obskit-demo', version: '0.0.0' });
const app = Fastify({ loggerInstance: logger });
app.addHook('onRequest', (request, _reply, done) => {
  requestContextOf(request.raw).reqId = request.id;
  runInRequestContext(request.raw, done);
});
app.get('/', async () => ({ hello: 'obskit' }));

const port = Number(process.env.PORT ?? 3000);
await app.listen({ host: '127.0.0.1', port });
const { port: actual } = app.server.address();
console.log(
  `\nobskit demo listening on http://127.0.0.1:${actual}\n  try: curl -i http://127.0.0.1:${actual}/\n  stop: Ctrl-C\n`,
);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    void app.close().then(() => process.exit(0));
  });
}
