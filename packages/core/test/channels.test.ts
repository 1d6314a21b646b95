// What this Node.js publishes about outgoing node:http requests is learnt from the first one: a
// runtime that announces none before its headers are written (Node.js 20) is said once; on
// one that does (22.14 and later) nothing is said. Either way the watch stops after that request.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { httpRequestsAnnounced } from '@obskit/test-support';
import { describe, expect, it } from 'vitest';

const internal = fileURLToPath(new URL('../dist/internal.js', import.meta.url));

function run(): Promise<{ code: number; stdout: string; stderr: string }> {
  // A fresh process: the watch runs once per process.
  const script = `
    import diagnosticsChannel from 'node:diagnostics_channel';
    import { createServer, get } from 'node:http';
    const { watchHttpAnnouncements } = await import(process.argv[1]);
    const said = [];
    watchHttpAnnouncements({ warn: (_fields, msg) => said.push(msg) });
    watchHttpAnnouncements({ warn: (_fields, msg) => said.push('second watch: ' + msg) });
    const server = createServer((_req, res) => res.end('ok'));
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const call = () => new Promise((resolve, reject) =>
      get('http://127.0.0.1:' + server.address().port + '/', (res) => { res.resume(); res.on('end', resolve); }).on('error', reject));
    await call();
    await call();
    server.close();
    const start = diagnosticsChannel.channel('http.client.request.start').hasSubscribers;
    console.log(JSON.stringify({ said, start }));
  `;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script, internal],
      { timeout: 15_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('watchHttpAnnouncements', () => {
  it('says once what node:http calls lack where they are not announced, and then stops', async () => {
    const { code, stdout, stderr } = await run();
    expect(code, stderr).toBe(0);
    const { said, start } = JSON.parse(stdout) as { said: string[]; start: boolean };
    expect(start).toBe(false);
    if (httpRequestsAnnounced()) {
      expect(said).toEqual([]);
    } else {
      expect(said).toHaveLength(1);
      expect(said[0]).toContain('outgoing node:http calls carry no trace context');
      expect(said[0]).toContain('preload');
    }
  });
});
