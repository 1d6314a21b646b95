import { listen, logSink, waitFor } from '@obskit/test-support';
import express from 'express';
import Fastify from 'fastify';
import { pinoHttp } from 'pino-http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createLogger,
  requestContextOf,
  requestLogger,
  runInRequestContext,
  runWithRequestContext,
} from '../src/internal.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  vi.unstubAllEnvs();
  await Promise.all(closers.splice(0).map((close) => close()));
});

describe('createLogger', () => {
  it('writes the obskit vocabulary as JSON', () => {
    const sink = logSink();
    const log = createLogger({
      service: 'billing',
      env: 'test',
      version: '1.2.3',
      destination: sink.stream,
    });
    log.info({ orderId: 7 }, 'order placed');
    const [line] = sink.lines();
    expect(line).toMatchObject({
      level: 'info',
      service: 'billing',
      env: 'test',
      version: '1.2.3',
      msg: 'order placed',
      orderId: 7,
    });
    expect(typeof line?.time).toBe('string');
    expect(new Date(line?.time as string).toISOString()).toBe(line?.time);
    expect(line).not.toHaveProperty('reqId');
  });

  it('stamps each line with the time it was written, also within and across milliseconds', () => {
    const sink = logSink();
    const log = createLogger({ service: 's', destination: sink.stream });
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date('2026-11-22T10:00:00.123Z'));
      log.info('first');
      log.info('same millisecond');
      vi.setSystemTime(new Date('2026-11-22T10:00:00.124Z'));
      log.info('next millisecond');
      vi.setSystemTime(new Date('2026-11-22T10:00:01.000Z'));
      log.info('next second');
    } finally {
      vi.useRealTimers();
    }
    expect(sink.lines().map((l) => l.time)).toEqual([
      '2026-11-22T10:00:00.123Z',
      '2026-11-22T10:00:00.123Z',
      '2026-11-22T10:00:00.124Z',
      '2026-11-22T10:00:01.000Z',
    ]);
  });

  it('adds reqId and trace fields from the request context, and context bindings', () => {
    const sink = logSink();
    const log = createLogger({ service: 's', destination: sink.stream });
    runWithRequestContext(
      {
        reqId: 'abc',
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: 'b7ad6b7169203331',
        traceFlags: '01',
        bindings: { tenant: 'acme' },
      },
      () => log.info('inside'),
    );
    log.info('outside');
    const [inside, outside] = sink.lines();
    expect(inside).toMatchObject({
      reqId: 'abc',
      trace_id: '0af7651916cd43dd8448eb211c80319c',
      span_id: 'b7ad6b7169203331',
      trace_flags: '01',
      tenant: 'acme',
    });
    expect(outside).not.toHaveProperty('reqId');
    expect(outside).not.toHaveProperty('trace_id');
  });

  it('writes the request id as ECS http.request.id (and trace ids as ECS fields) with ecs: true', () => {
    const sink = logSink();
    const log = createLogger({ service: 's', ecs: true, destination: sink.stream });
    runWithRequestContext(
      {
        reqId: 'ecs-1',
        traceId: '0af7651916cd43dd8448eb211c80319c',
        spanId: 'b7ad6b7169203331',
        traceFlags: '01',
      },
      () => log.info('from the context'),
    );
    requestLogger(log, 'ecs-2').info('from the request logger');
    const [fromContext, fromChild] = sink.lines();
    expect(fromContext).toMatchObject({
      'http.request.id': 'ecs-1',
      'trace.id': '0af7651916cd43dd8448eb211c80319c',
      'span.id': 'b7ad6b7169203331',
      'log.level': 'info',
      message: 'from the context',
    });
    expect(fromChild).toMatchObject({
      'http.request.id': 'ecs-2',
      message: 'from the request logger',
    });
    for (const line of [fromContext, fromChild]) {
      expect(line).not.toHaveProperty('reqId');
      expect(line).not.toHaveProperty('trace_id');
    }
  });

  it('redacts authorization, cookie and set-cookie by default, and extra paths', () => {
    const sink = logSink();
    const log = createLogger({ destination: sink.stream, redact: ['card.number'] });
    log.info({
      req: { headers: { authorization: 'Bearer secret', cookie: 'sid=1', accept: '*/*' } },
      res: { headers: { 'set-cookie': 'sid=2' } },
      card: { number: '4111' },
    });
    const raw = JSON.stringify(sink.lines());
    expect(raw).not.toContain('secret');
    expect(raw).not.toContain('sid=');
    expect(raw).not.toContain('4111');
    const [line] = sink.lines() as [{ req: { headers: Record<string, string> } }];
    expect(line.req.headers).toEqual({
      authorization: '[Redacted]',
      cookie: '[Redacted]',
      accept: '*/*',
    });
  });

  it('takes LOG_LEVEL and the service from the environment', () => {
    vi.stubEnv('LOG_LEVEL', 'warn');
    vi.stubEnv('OTEL_SERVICE_NAME', 'from-env');
    const sink = logSink();
    const log = createLogger({ destination: sink.stream });
    log.info('hidden');
    log.warn('shown');
    expect(sink.lines()).toMatchObject([{ msg: 'shown', level: 'warn', service: 'from-env' }]);
  });

  it('rejects a bad level with a coded error naming the source', () => {
    vi.stubEnv('LOG_LEVEL', 'loud');
    expect(() => createLogger()).toThrow(
      /OBSKIT_ERR_INVALID_OPTION: LOG_LEVEL must be one of fatal, .*got "loud"/,
    );
    expect(() => createLogger({ level: 'nope' })).toThrow(/logger\.level must be one of/);
    expect(() => createLogger({ service: 42 as unknown as string })).toThrow(
      'OBSKIT_ERR_INVALID_OPTION: logger.service must be a non-empty string, got 42',
    );
  });

  it('writes human-readable lines with LOG_FORMAT=pretty', async () => {
    vi.stubEnv('LOG_FORMAT', 'pretty');
    const sink = logSink();
    const log = createLogger({ service: 's', destination: sink.stream });
    log.info({ orderId: 7 }, 'pretty line');
    await waitFor(() => sink.raw().length > 0, 5000, 'the pretty line');
    const [line] = sink.raw();
    expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: pretty line/);
    expect(sink.raw().join('\n')).toContain('orderId: 7');
    expect(line).not.toContain('{"level"');
  });

  it('serves as Fastify loggerInstance: request.log lines carry reqId once', async () => {
    const sink = logSink();
    const logger = createLogger({ service: 'api', destination: sink.stream });
    const app = Fastify({ loggerInstance: logger });
    app.addHook('onRequest', (request, _reply, done) => {
      requestContextOf(request.raw).reqId = request.id;
      runInRequestContext(request.raw, done);
    });
    app.get('/', async (request) => {
      request.log.info('from request.log');
      logger.info('from the app logger');
      return 'ok';
    });
    await app.ready();
    closers.push(() => app.close());
    await app.inject({ url: '/' });
    const lines = sink.lines().filter((l) => String(l.msg).startsWith('from'));
    expect(lines).toHaveLength(2);
    const ids = lines.map((l) => l.reqId);
    expect(ids[0]).toBeTypeOf('string');
    expect(ids[0]).toBe(ids[1]);
    // No duplicated key in the raw JSON line.
    for (const raw of sink.raw().filter((l) => l.includes('"from'))) {
      expect(raw.match(/"reqId"/g)).toHaveLength(1);
    }
  });

  it('serves as pino-http logger', async () => {
    const sink = logSink();
    const logger = createLogger({ service: 'web', destination: sink.stream });
    const app = express();
    app.use(pinoHttp({ logger }));
    app.get('/', (req, res) => {
      req.log.info('handled');
      res.send('ok');
    });
    const { url, close } = await listen(app);
    closers.push(close);
    await (await fetch(url, { headers: { authorization: 'Bearer x' } })).text();
    const lines = sink.lines();
    expect(lines.find((l) => l.msg === 'handled')).toMatchObject({ service: 'web', level: 'info' });
    const access = lines.find((l) => l.msg === 'request completed') as {
      req: { headers: Record<string, string> };
    };
    expect(access.req.headers.authorization).toBe('[Redacted]');
  });
});
