import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';

export interface Listening {
  server: Server;
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Starts `handler` (an Express app or any request listener) on 127.0.0.1 on a free port. */
export async function listen(handler: RequestListener | Server): Promise<Listening> {
  const server = typeof handler === 'function' ? createServer(handler) : handler;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

export interface LogSink {
  stream: Writable;
  /** Every line written so far, parsed as JSON. */
  lines(): Record<string, unknown>[];
  /** Every line written so far, as written. */
  raw(): string[];
  clear(): void;
}

/** A pino destination that keeps each line, to be parsed back as JSON by the test. */
export function logSink(): LogSink {
  let buffer = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      buffer += chunk.toString('utf8');
      callback();
    },
  });
  const raw = (): string[] => buffer.split('\n').filter((line) => line.length > 0);
  return {
    stream,
    raw,
    lines: () => raw().map((line) => JSON.parse(line) as Record<string, unknown>),
    clear: () => {
      buffer = '';
    },
  };
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `condition` every 10 ms until it holds or `timeoutMs` passes. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * A pino-shaped logger that writes nothing, for the features' own reports in tests that do not
 * look at them (a test that does passes a logSink logger instead). `over` replaces some levels.
 */
export function quietLogger<L = never>(
  over: Partial<Record<Level, (...args: unknown[]) => void>> = {},
): L {
  const noop = (): void => undefined;
  const logger: Record<string, unknown> = {
    fatal: noop,
    error: noop,
    warn: noop,
    info: noop,
    debug: noop,
    trace: noop,
    ...over,
    level: 'silent',
    child: () => logger,
    bindings: () => ({}),
  };
  return logger as L;
}

export interface OtlpSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  kind: number;
  service: string;
  /** As OTLP/JSON sends them; read one with `otlpAttribute`. */
  attributes?: {
    key: string;
    value: { stringValue?: string; intValue?: string | number; boolValue?: boolean };
  }[];
}

/** A span's attribute from OTLP/JSON, as a string, number or boolean. */
export function otlpAttribute(span: OtlpSpan, key: string): string | number | boolean | undefined {
  const value = span.attributes?.find((a) => a.key === key)?.value;
  if (value === undefined) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  return value.boolValue;
}

/**
 * An OTLP/HTTP receiver on 127.0.0.1 for the http/json encoding (`OTEL_EXPORTER_OTLP_PROTOCOL=
 * http/json`) that keeps every span it is sent, with its resource's `service.name`.
 */
export async function otlpReceiver(): Promise<{
  url: string;
  spans: OtlpSpan[];
  close(): Promise<void>;
}> {
  const spans: OtlpSpan[] = [];
  const running = await listen(
    createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.url === '/v1/traces' && body) {
          const payload = JSON.parse(body) as {
            resourceSpans: {
              resource: { attributes: { key: string; value: { stringValue?: string } }[] };
              scopeSpans: { spans: Omit<OtlpSpan, 'service'>[] }[];
            }[];
          };
          for (const rs of payload.resourceSpans) {
            const service =
              rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
            for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service });
          }
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    }),
  );
  return { url: running.url, spans, close: running.close };
}
export { httpRequestsAnnounced } from './http-announced.js';

/**
 * A handler that waits for the test: `reached()` (awaited in the handler) resolves `arrived`
 * and holds until `release()`. A test then acts (aborts its client, say) once the server has the
 * request, instead of after a guessed time. `reset()` releases what waits and starts again.
 */
export interface Gate {
  readonly arrived: Promise<void>;
  reached(): Promise<void>;
  release(): void;
  reset(): void;
}

export function gate(): Gate {
  let arrive!: () => void;
  let release!: () => void;
  let arrived!: Promise<void>;
  let released!: Promise<void>;
  const start = () => {
    arrived = new Promise<void>((r) => (arrive = r));
    released = new Promise<void>((r) => (release = r));
  };
  start();
  return {
    get arrived() {
      return arrived;
    },
    reached() {
      arrive();
      return released;
    },
    release: () => release(),
    reset() {
      release();
      start();
    },
  };
}
