import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, logDestination, type LogDestination } from '../src/index.js';

const dirs: string[] = [];
const open: LogDestination[] = [];
afterEach(() => {
  for (const d of open.splice(0)) d.end();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'obskit-dest-'));
  dirs.push(dir);
  return join(dir, 'app.log');
}

function destinationTo(file: string, options: { maxPending?: number } = {}): LogDestination {
  const d = logDestination({ dest: file, ...options });
  open.push(d);
  return d;
}

const linesOf = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('logDestination', () => {
  it('holds the lines of one event-loop turn and writes them, in order, when the turn ends', async () => {
    const file = tempFile();
    const log = createLogger({ service: 'svc', destination: destinationTo(file) });
    log.info('one');
    log.warn({ n: 2 }, 'two');
    log.error('three');
    expect(readFileSync(file, 'utf8')).toBe('');
    await nextTurn();
    expect(linesOf(file).map((l) => [l.level, l.msg])).toEqual([
      ['info', 'one'],
      ['warn', 'two'],
      ['error', 'three'],
    ]);
    log.info('four');
    await nextTurn();
    expect(linesOf(file).map((l) => l.msg)).toEqual(['one', 'two', 'three', 'four']);
  });

  it('writes at once when maxPending characters are held', () => {
    const file = tempFile();
    const d = destinationTo(file, { maxPending: 100 });
    d.write(`${'a'.repeat(59)}\n`);
    expect(readFileSync(file, 'utf8')).toBe('');
    d.write(`${'b'.repeat(59)}\n`);
    expect(readFileSync(file, 'utf8')).toBe(`${'a'.repeat(59)}\n${'b'.repeat(59)}\n`);
  });

  it('writes what it holds on flushSync, flush(cb) and end', async () => {
    const file = tempFile();
    const log = createLogger({ service: 'svc', destination: destinationTo(file) });
    log.info('a');
    log.flush();
    expect(linesOf(file).map((l) => l.msg)).toEqual(['a']);
    log.info('b');
    await new Promise<void>((resolve, reject) =>
      log.flush((err) => (err ? reject(err) : resolve())),
    );
    expect(linesOf(file).map((l) => l.msg)).toEqual(['a', 'b']);
    const d = destinationTo(file);
    d.write('{"msg":"c"}\n');
    d.flushSync();
    d.write('{"msg":"d"}\n');
    d.end();
    expect(linesOf(file).map((l) => l.msg)).toEqual(['a', 'b', 'c', 'd']);
    expect(() => d.write('{"msg":"e"}\n')).toThrow('write after end');
  });

  it('reopens the file after rotation, losing nothing', async () => {
    const file = tempFile();
    const d = destinationTo(file);
    d.write('{"msg":"before"}\n');
    renameSync(file, `${file}.1`);
    d.reopen();
    d.write('{"msg":"after"}\n');
    await nextTurn();
    expect(linesOf(`${file}.1`).map((l) => l.msg)).toEqual(['before']);
    expect(linesOf(file).map((l) => l.msg)).toEqual(['after']);
  });

  it('rejects bad options with coded errors', () => {
    expect(() => logDestination({ dest: -1 })).toThrow(
      'OBSKIT_ERR_INVALID_OPTION: logDestination.dest must be a file descriptor or a file path, got -1',
    );
    expect(() => logDestination({ dest: '' })).toThrow('logDestination.dest must be');
    expect(() => logDestination({ maxPending: 0 })).toThrow('logDestination.maxPending');
    expect(() => logDestination('/nonexistent-dir/obskit/app.log')).toThrow(/ENOENT/);
  });

  // Real processes on the built package: standard output is a pipe, as under Kubernetes.
  const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
  function run(body: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const script = `
      const { createLogger } = await import(process.argv[1]);
      const log = createLogger({ service: 'child' });
      ${body}
    `;
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        ['--input-type=module', '-e', script, dist],
        { timeout: 15_000 },
        (error, stdout, stderr) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  }
  const msgs = (stdout: string) =>
    stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => (JSON.parse(l) as { msg: string }).msg);

  it('loses no line when the process exits in the same turn (process.exit, uncaught error)', async () => {
    const exited = await run(`
      for (let i = 0; i < 1000; i++) log.info('line ' + i);
      log.fatal('exiting');
      process.exit(3);
    `);
    expect(exited.code).toBe(3);
    const written = msgs(exited.stdout);
    expect(written).toHaveLength(1001);
    expect(written[0]).toBe('line 0');
    expect(written.at(-1)).toBe('exiting');

    const crashed = await run(`
      log.error('about to fail');
      throw new Error('boom');
    `);
    expect(crashed.code).toBe(1);
    expect(crashed.stderr).toContain('boom');
    expect(msgs(crashed.stdout)).toEqual(['about to fail']);

    const natural = await run(`log.info('last words');`);
    expect(natural.code).toBe(0);
    expect(msgs(natural.stdout)).toEqual(['last words']);
  });
});
