import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { requestContextOf } from '@obskit/core/internal';
import { listen } from '@obskit/test-support';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { tracing } from '../src/fastify.js';

const packageDir = fileURLToPath(new URL('..', import.meta.url));
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

interface OtlpSpan {
  name: string;
  traceId: string;
  attributes: { key: string; value: { stringValue?: string; intValue?: string | number } }[];
}

interface Export {
  contentType: string;
  body: Buffer;
  /** The decoded resource and spans, for http/json. */
  resource: Record<string, string>;
  spans: OtlpSpan[];
}

/** An OTLP/HTTP receiver on 127.0.0.1 that keeps what arrives (JSON decoded, protobuf raw). */
async function receiver() {
  const received: Export[] = [];
  const running = await listen(
    createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        const contentType = String(req.headers['content-type'] ?? '');
        if (req.url === '/v1/traces' && contentType.includes('json')) {
          const payload = JSON.parse(body.toString('utf8')) as {
            resourceSpans: {
              resource: { attributes: { key: string; value: { stringValue?: string } }[] };
              scopeSpans: { spans: OtlpSpan[] }[];
            }[];
          };
          for (const rs of payload.resourceSpans) {
            const resource = Object.fromEntries(
              rs.resource.attributes.map((a) => [a.key, a.value.stringValue ?? '']),
            );
            received.push({
              contentType,
              body,
              resource,
              spans: rs.scopeSpans.flatMap((scope) => scope.spans),
            });
          }
        } else if (req.url === '/v1/traces') {
          received.push({ contentType, body, resource: {}, spans: [] });
        }
        res.writeHead(200, { 'content-type': contentType || 'application/json' }).end();
      });
    }),
  );
  closers.push(running.close);
  return { url: running.url, received };
}

interface Run {
  code: number | null;
  output: string;
}

async function runPreloaded(
  flag: '--import' | '--require',
  script: string,
  endpoint: string,
  env: Record<string, string> = {},
): Promise<Run> {
  const child = spawn(process.execPath, [flag, '@obskit/tracing/register', script], {
    cwd: packageDir,
    env: {
      ...process.env,
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_SERVICE_NAME: 'preloaded',
      OTEL_RESOURCE_ATTRIBUTES: 'team=payments,region=eu%2Dwest,service.version=2.0.0',
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, output };
}

describe('preload and OTLP export', () => {
  it.each([
    ['--import', 'test/fixtures/app.mjs'],
    ['--require', 'test/fixtures/app.cjs'],
  ] as const)(
    'node %s @obskit/tracing/register exports route-named spans over OTLP/HTTP',
    async (flag, script) => {
      const { url, received } = await receiver();
      const run = await runPreloaded(flag, script, url);
      expect(run.code, run.output).toBe(0);
      const spans = received.flatMap((r) => r.spans);
      const server = spans.find((s) => s.name === 'GET /users/:id');
      expect(server, JSON.stringify(spans.map((s) => s.name))).toBeDefined();
      expect(server?.traceId).toMatch(/^[0-9a-f]{32}$/);
      const resource = received[0]?.resource ?? {};
      expect(resource['service.name']).toBe('preloaded');
      expect(resource.team).toBe('payments');
      expect(resource.region).toBe('eu-west');
      // OTEL_RESOURCE_ATTRIBUTES wins over obskit's defaults; the SDK and the detectors add theirs.
      expect(resource['service.version']).toBe('2.0.0');
      expect(resource['deployment.environment.name']).toBe(process.env.NODE_ENV || 'development');
      expect(resource['telemetry.sdk.name']).toBe('opentelemetry');
      expect(resource['telemetry.sdk.language']).toBe('nodejs');
      expect(resource['host.name']).toBeTruthy();
      expect(resource['process.runtime.name']).toBe('nodejs');
    },
    30_000,
  );

  it("exports http/protobuf by default, the specification's default protocol", async () => {
    const { url, received } = await receiver();
    const run = await runPreloaded('--import', 'test/fixtures/app.mjs', url, {
      OTEL_EXPORTER_OTLP_PROTOCOL: '',
    });
    expect(run.code, run.output).toBe(0);
    expect(received.length).toBeGreaterThan(0);
    expect(received[0]?.contentType).toBe('application/x-protobuf');
    // Strings travel as raw UTF-8 in protobuf: the span name is in the payload.
    expect(received.some((r) => r.body.includes('GET /users/:id'))).toBe(true);
  }, 30_000);

  it('takes a list in OTEL_TRACES_EXPORTER, and warns on what it does not know instead of failing', async () => {
    const { url, received } = await receiver();
    const run = await runPreloaded('--import', 'test/fixtures/app.mjs', url, {
      OTEL_TRACES_EXPORTER: 'otlp,console,zipkin',
      OTEL_PROPAGATORS: 'tracecontext,xray',
      OTEL_TRACES_SAMPLER: 'sometimes',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift',
    });
    expect(run.code, run.output).toBe(0);
    // Exported over OTLP (http/protobuf, thrift being no OTLP protocol) and printed by the console exporter.
    expect(received.some((r) => r.body.includes('GET /users/:id'))).toBe(true);
    expect(run.output).toContain("name: 'GET /users/:id'");
    expect(run.output).toContain('OTEL_TRACES_EXPORTER: unknown exporter \\"zipkin\\" ignored');
    expect(run.output).toContain('OTEL_PROPAGATORS: unknown propagator \\"xray\\" ignored');
    expect(run.output).toContain('OTEL_TRACES_SAMPLER: unknown sampler \\"sometimes\\"');
    expect(run.output).toContain('OTEL_EXPORTER_OTLP_PROTOCOL: \\"thrift\\" is not supported');
  }, 30_000);
});

/**
 * An OTLP/gRPC receiver on 127.0.0.1: the collector's TraceService/Export method, keeping each
 * request's raw protobuf bytes and answering an empty ExportTraceServiceResponse.
 */
async function grpcReceiver(): Promise<{ endpoint: string; received: Buffer[] }> {
  const received: Buffer[] = [];
  const server = new grpc.Server();
  const raw = (b: Buffer) => b;
  server.addService(
    {
      Export: {
        path: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        requestStream: false,
        responseStream: false,
        requestSerialize: raw,
        requestDeserialize: raw,
        responseSerialize: raw,
        responseDeserialize: raw,
      },
    },
    {
      Export: (
        call: grpc.ServerUnaryCall<Buffer, Buffer>,
        callback: grpc.sendUnaryData<Buffer>,
      ) => {
        received.push(call.request);
        callback(null, Buffer.alloc(0));
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  closers.push(() => new Promise<void>((resolve) => server.tryShutdown(() => resolve())));
  return { endpoint: `http://127.0.0.1:${port}`, received };
}

describe('OTLP over gRPC', () => {
  it.each([['OTEL_EXPORTER_OTLP_PROTOCOL'], ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL']])(
    '%s=grpc exports the spans to a gRPC receiver, at the endpoint as given',
    async (variable) => {
      const { endpoint, received } = await grpcReceiver();
      const run = await runPreloaded('--import', 'test/fixtures/app.mjs', endpoint, {
        OTEL_EXPORTER_OTLP_PROTOCOL: '',
        [variable]: 'grpc',
      });
      expect(run.code, run.output).toBe(0);
      expect(run.output).not.toContain('is not supported');
      expect(received.length, run.output).toBeGreaterThan(0);
      // Strings travel as raw UTF-8 in protobuf: the span name and the service are in it.
      expect(received.some((b) => b.includes('GET /users/:id'))).toBe(true);
      expect(received.some((b) => b.includes('preloaded'))).toBe(true);
    },
    30_000,
  );
});

describe('without a started SDK', () => {
  it('the plugin adds no hooks and the app works', async () => {
    const app = Fastify();
    await app.register(tracing);
    app.get('/', async (request) => ({ traceId: requestContextOf(request.raw).traceId ?? null }));
    closers.push(() => app.close());
    const response = await app.inject({ url: '/', headers: { traceparent: 'garbage' } });
    expect(response.json()).toEqual({ traceId: null });
    expect(app.printPlugins()).toContain('@obskit/tracing');
  });
});

describe('sampling', () => {
  async function sampled(ratio: string | undefined, env: Record<string, string> = {}) {
    const child = spawn(
      process.execPath,
      ['test/fixtures/sampling.mjs', ...(ratio === undefined ? [] : [ratio])],
      { cwd: packageDir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    expect(code).toBe(0);
    return JSON.parse(out) as { root: number; sampledParent: number; unsampledParent: number };
  }

  it('follows sampleRatio for new traces and the parent for continued ones', async () => {
    const [all, none, half] = await Promise.all([sampled('1'), sampled('0'), sampled('0.5')]);
    expect(all).toEqual({ root: 200, sampledParent: 200, unsampledParent: 0 });
    expect(none).toEqual({ root: 0, sampledParent: 200, unsampledParent: 0 });
    expect(half.root).toBeGreaterThan(50);
    expect(half.root).toBeLessThan(150);
    expect(half.sampledParent).toBe(200);
  }, 30_000);

  it('reads OTEL_TRACES_SAMPLER and its argument when no ratio is given', async () => {
    const [ratioZero, alwaysOn] = await Promise.all([
      sampled(undefined, { OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' }),
      sampled(undefined, { OTEL_TRACES_SAMPLER: 'always_on' }),
    ]);
    // Not parent-based: the parent's decision does not count.
    expect(ratioZero).toEqual({ root: 0, sampledParent: 0, unsampledParent: 0 });
    expect(alwaysOn).toEqual({ root: 200, sampledParent: 200, unsampledParent: 200 });
  }, 30_000);
});
