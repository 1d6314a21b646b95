import sonicBoom from 'sonic-boom';
import type { DestinationStream } from 'pino';
import { invalidOption } from './errors.js';
import { optionNumber, optionObject } from './options.js';

export interface LogDestinationOptions {
  /** A file descriptor, or a file path (appended to, created when missing). Default 1: standard output. */
  dest?: number | string;
  /**
   * Characters of log lines held while the destination cannot take them (a reader that stopped
   * reading standard output, a slow disk). Lines that would go past it are dropped and counted.
   * Default 4 MiB of characters.
   */
  maxBuffered?: number;
  /**
   * How long the exit flush (and `flushWithin` without an argument) may take before giving up
   * on a destination that takes nothing. Default 500 ms.
   */
  exitFlushMs?: number;
  /** Fields of the one line the destination writes itself (the dropped-lines warning). */
  fields?: Record<string, unknown>;
}

/** What `logDestination` returns: a pino destination. */
export interface LogDestination extends DestinationStream {
  write(line: string): boolean;
  /** Writes what is held now, synchronously, giving up after `exitFlushMs` on a stalled destination. */
  flushSync(): void;
  /** Calls back once what is held now is written (pino's `logger.flush(cb)` calls this). */
  flush(cb?: (err?: Error | null) => void): void;
  /**
   * Resolves `true` once everything held is written, `false` when `ms` pass first: for a
   * graceful shutdown that must keep its deadline.
   */
  flushWithin(ms?: number): Promise<boolean>;
  /** Reopens the file (after log rotation moved it away). */
  reopen(file?: string): void;
  /** Writes what is held and closes the destination. */
  end(): void;
  /** Lines dropped so far because `maxBuffered` was reached. */
  readonly droppedLines: number;
}

const DEFAULTS = { maxBuffered: 4 * 1024 * 1024, exitFlushMs: 500 };
const BATCH_CHARS = 16 * 1024;
const MAX_WRITE = 1024 * 1024;

// Every destination of this process, for the exit flush and the dropped-lines metric; shared by
// the ESM and CommonJS builds.
const kDestinations = Symbol.for('obskit.core.logDestinations');
const destinations: Set<LogDestination> =
  ((globalThis as Record<symbol, unknown>)[kDestinations] as Set<LogDestination> | undefined) ??
  (((globalThis as Record<symbol, unknown>)[kDestinations] =
    new Set<LogDestination>()) as Set<LogDestination>);

let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // process.exit(), an uncaught exception, the event loop running out: what is held goes out,
  // within each destination's bound.
  process.on('exit', () => {
    for (const destination of destinations) destination.flushSync();
  });
}

/** Log lines dropped by every obskit log destination of this process, for a metric. */
export function droppedLogLines(): number {
  let total = 0;
  for (const destination of destinations) total += destination.droppedLines;
  return total;
}

/** Waits for every obskit log destination of this process to write what it holds, at most `ms`. */
export async function flushLogDestinations(ms: number): Promise<boolean> {
  const results = await Promise.all([...destinations].map((d) => d.flushWithin(ms)));
  return results.every(Boolean);
}

function countLines(data: unknown): number {
  const text = String(data);
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return Math.max(n, 1);
}

/**
 * The obskit logger's destination: pino's own sonic-boom in its asynchronous mode. Lines go out
 * in writes that never wait on the event loop, so a reader that stops reading standard output
 * stalls the log, not the server: probes keep answering and the shutdown keeps its deadline. The
 * lines of one turn of the event loop go out together, as one write (at most 16 KiB of them
 * before a write starts anyway), and lines written while a write is in flight are held and go
 * out together in the next one. Held lines are bounded by `maxBuffered`; what would go past it is
 * dropped, counted (`droppedLines`, the `log_lines_dropped_total` metric of the obskit umbrella)
 * and said once in the log when writing resumes. What is held is written on `flush`, on
 * `flushWithin` (the graceful shutdown calls it) and when the process exits, each bounded so that
 * a stalled destination never keeps the process from exiting.
 *
 * EAGAIN on a full pipe is retried by sonic-boom, EPIPE on a closed standard output ends the
 * destination quietly, and `reopen()` reopens the file after log rotation.
 */
export function logDestination(
  options: LogDestinationOptions | number | string = {},
): LogDestination {
  const resolved: LogDestinationOptions =
    typeof options === 'number' || typeof options === 'string'
      ? { dest: options }
      : (optionObject(options, 'logDestination') ?? {});
  const dest = resolved.dest ?? 1;
  if (
    !(typeof dest === 'number' && Number.isInteger(dest) && dest >= 0) &&
    !(typeof dest === 'string' && dest.length > 0)
  ) {
    throw invalidOption('logDestination.dest', 'a file descriptor or a file path', dest);
  }
  const maxBuffered = optionNumber(
    resolved.maxBuffered,
    'logDestination.maxBuffered',
    DEFAULTS.maxBuffered,
    { min: 1024, integer: true },
  );
  const exitFlushMs = optionNumber(
    resolved.exitFlushMs,
    'logDestination.exitFlushMs',
    DEFAULTS.exitFlushMs,
    { min: 0 },
  );

  const fields = optionObject(resolved.fields, 'logDestination.fields') ?? {};
  // Node sets up its own stream on standard output and error when they are first read: for a pipe
  // or a socket (a container runtime's log pipe) that puts the descriptor in non-blocking mode,
  // so that a full pipe answers a write with EAGAIN, which sonic-boom retries on a timer, instead
  // of holding a thread-pool thread, which would also hold up the process's exit.
  if (dest === 1) void process.stdout;
  else if (dest === 2) void process.stderr;

  // `retryEAGAIN` is asked for each EAGAIN: always retry, except while a bounded synchronous
  // flush is past its time.
  let syncDeadline = Number.POSITIVE_INFINITY;
  const sonic = new sonicBoom.SonicBoom({
    ...(typeof dest === 'number' ? { fd: dest } : { dest, mkdir: true }),
    sync: false,
    maxLength: maxBuffered,
    // One write takes what is pending, up to 1 MiB (sonic-boom writes at most 16 KiB by default):
    // with one write in flight at a time, that is what keeps up with a busy server.
    maxWrite: MAX_WRITE,
    retryEAGAIN: () => Date.now() < syncDeadline,
  });

  let dropped = 0;
  let droppedSaid = 0;
  let ended = false;
  let broken = false;
  let held = 0;
  let lastProgress = Date.now();
  const waiters = new Set<() => void>();

  const settle = (): void => {
    if (held > 0) return;
    for (const wake of waiters) wake();
    waiters.clear();
  };

  sonic.on('write', (n: number) => {
    held = Math.max(0, held - n);
    lastProgress = Date.now();
    // One line, once writing resumes, for lines dropped while the destination took nothing.
    if (dropped > droppedSaid && held < maxBuffered / 2) {
      const count = dropped - droppedSaid;
      droppedSaid = dropped;
      const line = `${JSON.stringify({
        level: 'warn',
        time: new Date().toISOString(),
        ...fields,
        msg: `obskit: ${count} log lines were dropped while the log destination took nothing (logDestination.maxBuffered: ${maxBuffered} characters held)`,
        droppedLines: count,
      })}\n`;
      held += Buffer.byteLength(line);
      sonic.write(line);
    }
    settle();
  });
  sonic.on('drop', (data: unknown) => {
    dropped += countLines(data);
  });
  sonic.on('error', (error: NodeJS.ErrnoException) => {
    // A closed standard output (EPIPE) has no reader left: nothing more can be written.
    if (error.code === 'EPIPE') {
      broken = true;
      held = 0;
      settle();
      return;
    }
    process.emitWarning(`obskit log destination: ${error.message}`, {
      code: 'OBSKIT_WARN_LOG_DESTINATION',
    });
  });

  // Lines of one turn of the event loop (or 16 KiB of them) go to sonic-boom as one write: one
  // `Buffer.byteLength` and one write call per batch instead of per line, and sonic-boom's own
  // bookkeeping while a write is in flight grows by one string per batch.
  let pending = '';
  let pendingChars = 0;
  let scheduled = false;
  function handOver(): void {
    scheduled = false;
    if (pendingChars === 0) return;
    const batch = pending;
    pending = '';
    pendingChars = 0;
    if (broken) return;
    const before = dropped;
    sonic.write(batch);
    if (dropped === before) held += Buffer.byteLength(batch);
  }

  const stalled = (): boolean => held > 0 && Date.now() - lastProgress > exitFlushMs;

  const destination: LogDestination = {
    write(line: string): boolean {
      if (ended) throw new Error('obskit log destination: write after end');
      if (broken) return true;
      // Past the bound, a line is dropped and counted here, before it costs anything more.
      if (held + pendingChars + line.length > maxBuffered) {
        dropped += countLines(line);
        return false;
      }
      pending += line;
      pendingChars += line.length;
      if (pendingChars >= BATCH_CHARS) handOver();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(handOver);
      }
      return true;
    },
    flushSync(): void {
      handOver();
      if (ended || broken || held === 0 || stalled()) return;
      syncDeadline = Date.now() + exitFlushMs;
      try {
        sonic.flushSync();
        held = 0;
      } catch {
        // Past its time, or not open yet: what is still held is given up, not waited for.
      } finally {
        syncDeadline = Number.POSITIVE_INFINITY;
      }
    },
    flush(cb?: (err?: Error | null) => void): void {
      void destination
        .flushWithin()
        .then((written) =>
          cb?.(written ? null : new Error('obskit log destination: flush timed out')),
        );
    },
    flushWithin(ms: number = exitFlushMs): Promise<boolean> {
      handOver();
      if (held === 0 || broken) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          waiters.delete(wake);
          resolve(false);
        }, ms);
        const wake = (): void => {
          clearTimeout(timer);
          resolve(true);
        };
        waiters.add(wake);
      });
    },
    reopen(file?: string): void {
      sonic.reopen(file);
    },
    end(): void {
      if (ended) return;
      ended = true;
      destinations.delete(destination);
      destination.flushSync();
      sonic.end();
    },
    get droppedLines(): number {
      return dropped;
    },
  };
  destinations.add(destination);
  installExitHook();
  return destination;
}
