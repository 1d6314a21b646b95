import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import {
  flushLogDestinations,
  onResponseDone,
  STEP,
  type Logger,
  type PipelineStep,
} from '@obskit/core/internal';

export interface ShutdownSettings {
  log: Logger;
  drainDelayMs: number;
  timeoutMs: number;
  exit: boolean;
  signals: NodeJS.Signals[];
  onShutdown: (() => unknown)[];
  onShutdownStart: (() => unknown)[];
}

export interface Shutdown {
  readonly shuttingDown: boolean;
  /** Per request, from the adapters: from the signal on, its response carries `Connection: close`. */
  track(req: IncomingMessage, res: ServerResponse): void;
  /** The request pipeline's drain step: `begin` when a request starts, `end` when it is done. */
  readonly step: PipelineStep;
  hold(name: string): () => void;
  onShutdown(hook: () => unknown): void;
  onShutdownStart(hook: () => unknown): void;
  onServerClose(closer: ServerCloseHook): void;
  setServerCloser(close: () => Promise<void>): void;
  shutdown(reason?: string): Promise<void>;
  /** Removes the signal handlers, unless a shutdown is running (it removes them when done). */
  close(): void;
}

/**
 * Connections the server's close waits for that are not HTTP requests (WebSockets): closed when
 * the server starts closing, after the drain delay, and awaited with it. `pending` says what is
 * still open, for the timeout line ("12 WebSocket connections").
 */
export interface ServerCloseHook {
  close(): Promise<void> | void;
  pending?(): string | undefined;
}

// The longest the log flush before exit may take, within the shutdown deadline.
const LOG_FLUSH_MS = 2000;

/**
 * Stops `server` accepting connections and resolves when every connection has ended: each
 * connection closes after the response it is serving (from the signal on they carry
 * `Connection: close`); a connection with no request on it is closed as it is found idle.
 */
export function drainServer(server: Server, sweepMs = 100): Promise<void> {
  return new Promise<void>((resolve) => {
    const sweep = setInterval(() => server.closeIdleConnections(), sweepMs);
    sweep.unref();
    server.close(() => {
      clearInterval(sweep);
      resolve();
    });
  });
}

/** The graceful shutdown: drain, close the server, wait for held work, run the hooks, exit. */
export function createShutdown(settings: ShutdownSettings): Shutdown {
  const { log, drainDelayMs, timeoutMs, exit, signals } = settings;
  const hooks = [...settings.onShutdown];
  const startHooks = [...settings.onShutdownStart];
  let shuttingDown = false;
  let closeServer: (() => Promise<void>) | undefined;
  const holds = new Map<number, string>();
  let holdSeq = 0;
  const serverClosers: ServerCloseHook[] = [];
  // Requests the server's close waits for, for the timeout line.
  let requestsInFlight = 0;
  const released: (() => void)[] = [];
  // Responses being written when the signal comes: they get `Connection: close` too.
  const inflight = new Set<ServerResponse>();

  const onSignal = (signal: NodeJS.Signals): void => {
    if (shuttingDown) {
      log.warn({ signal }, 'shutdown already in progress; signal ignored');
      return;
    }
    void shutdown(signal);
  };
  for (const signal of signals) process.on(signal, onSignal);
  let signalsRemoved = false;
  const removeSignals = (): void => {
    if (signalsRemoved) return;
    signalsRemoved = true;
    for (const signal of signals) process.off(signal, onSignal);
  };

  const runHooks = async (list: (() => unknown)[], what: string): Promise<void> => {
    for (const hook of list.splice(0)) {
      try {
        await hook();
      } catch (error) {
        log.error({ err: error }, `shutdown: ${what} failed; running the others`);
      }
    }
  };

  let running: Promise<void> | undefined;
  const shutdown = (reason = 'shutdown()'): Promise<void> => {
    running ??= (async () => {
      shuttingDown = true;
      const started = performance.now();
      for (const res of inflight) if (!res.headersSent) res.setHeader('connection', 'close');
      inflight.clear();
      log.info({ reason, drainDelayMs, timeoutMs }, 'shutdown: readiness now 503, draining');
      const deadline = setTimeout(() => {
        const running = [
          ...(requestsInFlight > 0 ? [`${requestsInFlight} in-flight request(s)`] : []),
          ...[...holds.values()].map((name) => `held ${name}`),
          ...serverClosers.map((c) => c.pending?.()).filter((x): x is string => !!x),
        ];
        log.error(
          {
            holds: [...holds.values()],
            requestsInFlight,
            serverClosing: closeServer !== undefined,
          },
          `shutdown: timed out after ${timeoutMs} ms, still running: ${running.join(', ') || 'the server close'}`,
        );
        if (exit) process.exit(1);
      }, timeoutMs);
      // Not unref()ed: held work may have nothing else keeping the process alive, and the
      // process must not end before the hooks ran or the deadline passed.
      await runHooks(startHooks, 'an onShutdownStart hook');
      if (drainDelayMs > 0) await new Promise((r) => setTimeout(r, drainDelayMs));
      if (closeServer !== undefined || serverClosers.length > 0) {
        log.info('shutdown: closing the server, waiting for in-flight requests');
        const closing = [closeServer, ...serverClosers.map((c) => () => c.close())].map(
          async (close) => {
            try {
              await close?.();
            } catch (error) {
              log.error({ err: error }, 'shutdown: closing the server failed');
            }
          },
        );
        await Promise.all(closing);
      }
      if (holds.size > 0) {
        log.info({ holds: [...holds.values()] }, 'shutdown: waiting for held work');
        await new Promise<void>((resolve) => released.push(resolve));
      }
      log.info({ hooks: hooks.length }, 'shutdown: running hooks');
      await runHooks(hooks, 'a hook');
      log.info('shutdown: complete');
      removeSignals();
      // What the logs still hold goes out before the exit, within the deadline.
      const left = timeoutMs - (performance.now() - started);
      await flushLogDestinations(Math.max(0, Math.min(LOG_FLUSH_MS, left)));
      clearTimeout(deadline);
      if (exit) process.exit(0);
    })();
    return running;
  };

  return {
    get shuttingDown() {
      return shuttingDown;
    },
    step: {
      order: STEP.drain,
      begin(_req, res) {
        requestsInFlight++;
        if (shuttingDown) {
          if (!res.headersSent) res.setHeader('connection', 'close');
        } else inflight.add(res);
      },
      end(_req, res) {
        requestsInFlight--;
        inflight.delete(res);
      },
    },
    track(req, res) {
      requestsInFlight++;
      if (shuttingDown) {
        if (!res.headersSent) res.setHeader('connection', 'close');
      } else inflight.add(res);
      onResponseDone(req, res, () => {
        requestsInFlight--;
        inflight.delete(res);
      });
    },
    hold(name) {
      const id = ++holdSeq;
      holds.set(id, name);
      let done = false;
      return () => {
        if (done) return;
        done = true;
        holds.delete(id);
        if (holds.size === 0) for (const resolve of released.splice(0)) resolve();
      };
    },
    onShutdown(hook) {
      hooks.push(hook);
    },
    onShutdownStart(hook) {
      startHooks.push(hook);
    },
    onServerClose(closer) {
      serverClosers.push(closer);
    },
    setServerCloser(close) {
      closeServer = close;
    },
    shutdown,
    close() {
      if (running === undefined) removeSignals();
    },
  };
}
