// A downstream service for the configurations with one outgoing fetch per request: a bare
// node:http server in a child process of its own, so that its CPU time is not the measured
// server's. Resolves with its URL; it exits with the server.
import { fork } from 'node:child_process';
import { createServer } from 'node:http';

if (process.argv[2] === '--serve') {
  const server = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end('{"stock":3}');
  });
  server.listen(0, '127.0.0.1', () => process.send?.(server.address().port));
  process.on('disconnect', () => process.exit(0));
}

export function startDownstream() {
  return new Promise((resolve, reject) => {
    const child = fork(new URL(import.meta.url).pathname, ['--serve'], { stdio: 'ignore' });
    child.once('message', (port) => resolve(`http://127.0.0.1:${port}/stock`));
    child.once('error', reject);
    process.once('exit', () => child.kill());
  });
}
