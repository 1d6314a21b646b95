// Shared by every benchmark server: the same two routes, and the LISTENING line the harness reads.

export const user = (id) => ({ id, name: 'Ada Lovelace', email: 'ada@example.com' });

export function fastifyRoutes(app) {
  app.get('/', async () => ({ hello: 'world' }));
  app.get('/users/:id', async (request) => user(request.params.id));
}

export function expressRoutes(app) {
  app.get('/', (_req, res) => {
    res.json({ hello: 'world' });
  });
  app.get('/users/:id', (req, res) => {
    res.json(user(req.params.id));
  });
}

/** The same two routes, each making one outgoing fetch to `downstream` first. */
export function fastifyFetchRoutes(app, downstream) {
  app.get('/', async () => ({ hello: 'world', ...(await (await fetch(downstream)).json()) }));
  app.get('/users/:id', async (request) => ({
    ...user(request.params.id),
    ...(await (await fetch(downstream)).json()),
  }));
}

export function expressFetchRoutes(app, downstream) {
  app.get('/', async (_req, res) => {
    res.json({ hello: 'world', ...(await (await fetch(downstream)).json()) });
  });
  app.get('/users/:id', async (req, res) => {
    res.json({ ...user(req.params.id), ...(await (await fetch(downstream)).json()) });
  });
}

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 0);

export async function startFastify(app) {
  await app.listen({ host, port });
  announce(app.server);
}

export function startExpress(app) {
  const server = app.listen(port, host, () => announce(server));
  return server;
}

function announce(server) {
  process.stdout.write(`LISTENING ${server.address().port}\n`);
  process.once('SIGTERM', () => process.exit(0));
}
