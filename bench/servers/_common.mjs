// Shared by every benchmark server: the same two routes, and the LISTENING line the harness reads.
import http from 'node:http';

export const user = (id) => ({ id, name: 'Ada Lovelace', email: 'ada@example.com' });

// The routes scale run (`--routes N`): N more routes, registered before the measured ones, so that
// an Express request walks past them all, as in an app with that many routes.
const extraRoutes = Number(process.env.BENCH_ROUTES ?? 0);
const extra = (register) => {
  for (let i = 0; i < extraRoutes; i++) register(`/extra${i}/items/:id`, i);
};

export function fastifyRoutes(app) {
  extra((path, i) => app.get(path, async () => ({ extra: i })));
  app.get('/', async () => ({ hello: 'world' }));
  app.get('/users/:id', async (request) => user(request.params.id));
}

export function expressRoutes(app) {
  extra((path, i) => app.get(path, (_req, res) => res.json({ extra: i })));
  app.get('/', (_req, res) => {
    res.json({ hello: 'world' });
  });
  app.get('/users/:id', (req, res) => {
    res.json(user(req.params.id));
  });
}

// The log volume configurations (`--log-lines N`): each request writes N application lines
// through the request's logger, besides what the logging set-up writes per request itself.
const logLines = Number(process.env.LOG_LINES ?? 1);
const logWork = (log) => {
  for (let i = 0; i < logLines; i++) log.info({ step: i, userId: 42 }, 'loaded user step');
};

export function fastifyLogRoutes(app) {
  app.get('/', async (request) => {
    logWork(request.log);
    return { hello: 'world' };
  });
  app.get('/users/:id', async (request) => {
    logWork(request.log);
    return user(request.params.id);
  });
}

export function expressLogRoutes(app) {
  app.get('/', (req, res) => {
    logWork(req.log);
    res.json({ hello: 'world' });
  });
  app.get('/users/:id', (req, res) => {
    logWork(req.log);
    res.json(user(req.params.id));
  });
}

// One outgoing call to `url`, answered as JSON: `fetch` (undici), or `node:http` through one
// keep-alive agent (fetch keeps its connections alive too).
export const fetchJson = async (url) => (await fetch(url)).json();
const agent = new http.Agent({ keepAlive: true });
export const httpGetJson = (url) =>
  new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk) => (body += chunk));
        res.on('end', () => resolve(JSON.parse(body)));
        res.on('error', reject);
      })
      .on('error', reject);
  });

/** The same two routes, each making one outgoing call (`get`, fetch by default) to `downstream` first. */
export function fastifyFetchRoutes(app, downstream, get = fetchJson) {
  app.get('/', async () => ({ hello: 'world', ...(await get(downstream)) }));
  app.get('/users/:id', async (request) => ({
    ...user(request.params.id),
    ...(await get(downstream)),
  }));
}

export function expressFetchRoutes(app, downstream, get = fetchJson) {
  app.get('/', async (_req, res) => {
    res.json({ hello: 'world', ...(await get(downstream)) });
  });
  app.get('/users/:id', async (req, res) => {
    res.json({ ...user(req.params.id), ...(await get(downstream)) });
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
