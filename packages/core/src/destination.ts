import pino from 'pino';
import type { DestinationStream } from 'pino';
import { invalidOption } from './errors.js';
import { optionNumber, optionObject } from './options.js';

export interface LogDestinationOptions {
  /** A file descriptor, or a file path (appended to, created when missing). Default 1: standard output. */
  dest?: number | string;
  /**
   * Characters held within one event-loop turn before they are written at once, so a burst of
   * lines in one synchronous stretch of code stays bounded in memory. Default 65536.
   */
  maxPending?: number;
}

/** What `logDestination` returns: a pino destination. */
export interface LogDestination extends DestinationStream {
  write(line: string): boolean;
  /** Writes the lines held so far, synchronously. */
  flushSync(): void;
  /** Writes the lines held so far, then calls back (pino's `logger.flush(cb)` calls this). */
  flush(cb?: (err?: Error | null) => void): void;
  /** Reopens the file (after log rotation moved it away). */
  reopen(file?: string): void;
  /** Writes the lines held so far and closes the destination. */
  end(): void;
}

type Sonic = ReturnType<typeof pino.destination> & {
  reopen(file?: string): void;
};

// Destinations with lines held, written out when the process exits (process.exit(), an uncaught
// exception, the end of the event loop) so that no line written before is lost.
const holding = new Set<{ flushSync(): void }>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const destination of holding) destination.flushSync();
  });
}

/**
 * The obskit logger's destination: lines written in one event-loop turn go out in one
 * synchronous write at the end of that turn (in `setImmediate`) instead of one write per line.
 * A busy server answers many requests per turn, and each write is a system call: the access
 * line per request then costs a fraction of one. Lines are never dropped: what is held is
 * written when the turn ends, when `maxPending` characters are reached, on `flush`/`flushSync`,
 * and when the process exits. Only a process killed outright (SIGKILL, an abort) loses the lines
 * of the turn it was in, as pino's asynchronous destinations lose their buffer.
 *
 * Built on pino's own destination (sonic-boom, synchronous): retries on EAGAIN, partial writes,
 * `reopen` for log rotation, EPIPE on a closed standard output ignored.
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
  const maxPending = optionNumber(resolved.maxPending, 'logDestination.maxPending', 65536, {
    min: 1,
    integer: true,
  });
  const sonic = pino.destination({ dest, sync: true }) as Sonic;

  let pending = '';
  let scheduled = false;
  let ended = false;

  const writeOut = (): void => {
    scheduled = false;
    holding.delete(destination);
    if (pending.length === 0) return;
    const lines = pending;
    pending = '';
    sonic.write(lines);
  };

  const destination: LogDestination = {
    write(line: string): boolean {
      if (ended) throw new Error('obskit log destination: write after end');
      pending += line;
      if (pending.length >= maxPending) writeOut();
      else if (!scheduled) {
        scheduled = true;
        holding.add(destination);
        setImmediate(writeOut);
      }
      return true;
    },
    flushSync(): void {
      writeOut();
      sonic.flushSync();
    },
    flush(cb?: (err?: Error | null) => void): void {
      try {
        writeOut();
      } catch (err) {
        cb?.(err as Error);
        return;
      }
      if (cb === undefined) sonic.flush();
      else sonic.flush(cb);
    },
    reopen(file?: string): void {
      writeOut();
      sonic.reopen(file);
    },
    end(): void {
      if (ended) return;
      writeOut();
      ended = true;
      sonic.end();
    },
  };
  installExitHook();
  return destination;
}
