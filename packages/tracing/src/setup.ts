import { context, diag, propagation, trace } from '@opentelemetry/api';
import type * as OtlpGrpc from '@opentelemetry/exporter-trace-otlp-grpc';
import { createRequire } from 'node:module';
import { OTLPTraceExporter as OTLPJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OTLPProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { registerInstrumentations, type Instrumentation } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import {
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  processDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NodeTracerProvider,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from '@opentelemetry/semantic-conventions';
import {
  createLogger,
  defaultLogger,
  invalidOption,
  optionBoolean,
  optionNumber,
  optionObject,
  optionOneOf,
  optionString,
  serviceIdentity,
  watchHttpAnnouncements,
  type WarnLogger,
} from '@obskit/core/internal';
import {
  exportersFromEnv,
  propagatorFromEnv,
  protocolFromEnv,
  samplerFromEnv,
  tracesEndpoint,
  warnOnce,
  type ExporterName,
  type OtlpProtocol,
} from './config.js';
import { SharedContextManager } from './context-manager.js';
import { traceOutgoingCalls } from './outgoing.js';
import { DeliveryCounter, type SpanDelivery } from './delivery.js';
import { pgInstrumentation, type PgTracingOptions } from './pg.js';

// An incubating attribute in @opentelemetry/semantic-conventions (its `incubating` entry is not
// meant for libraries), so spelled out here.
const ATTR_DEPLOYMENT_ENVIRONMENT_NAME = 'deployment.environment.name';

export interface TracingOptions {
  /** `service.name`. Default: `OTEL_SERVICE_NAME`, the resource attributes, the package name. */
  serviceName?: string;
  /** `service.version`. Default: the resource attributes, the application's package.json version. */
  serviceVersion?: string;
  /** `deployment.environment.name`. Default: the resource attributes, `NODE_ENV`, `development`. */
  environment?: string;
  /** More resource attributes; they win over `OTEL_RESOURCE_ATTRIBUTES`. */
  resourceAttributes?: Record<string, string | number | boolean>;
  /**
   * `otlp`, `console`, `none`, a `SpanExporter`, or a list of them. Default
   * `OTEL_TRACES_EXPORTER` (a comma-separated list), else `otlp`.
   */
  exporter?: 'otlp' | 'console' | 'none' | SpanExporter | ('otlp' | 'console' | SpanExporter)[];
  /** OTLP/HTTP traces URL. Default `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, else `http://localhost:4318/v1/traces`. */
  endpoint?: string;
  /** OTLP encoding. Default `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` / `OTEL_EXPORTER_OTLP_PROTOCOL`, else `http/protobuf`. */
  protocol?: OtlpProtocol;
  /** Ratio of new traces sampled, parent-based. Default from `OTEL_TRACES_SAMPLER(_ARG)`, else 1. */
  sampleRatio?: number;
  /** `batch` (default) or `simple` (one export per span; for tests and debugging). */
  processor?: 'batch' | 'simple';
  /** Batch processor settings. */
  batch?: {
    maxQueueSize?: number;
    maxExportBatchSize?: number;
    scheduledDelayMillis?: number;
    exportTimeoutMillis?: number;
  };
  /**
   * CLIENT spans and trace context for outgoing `fetch` (undici) and `node:http` calls. Default
   * true.
   */
  outgoing?: boolean;
  /** Let instrumentation-http also make spans for incoming requests (the obskit adapters make them otherwise). Default false. */
  incomingHttpSpans?: boolean;
  /**
   * PostgreSQL query spans (`pg`), through `@opentelemetry/instrumentation-pg`: CLIENT spans
   * under the active span only, stable database attributes, the query text sanitised (literals
   * as `?`); `{ rawQueryText: true }` keeps it as written; `false` turns them off. Default true.
   */
  pg?: boolean | PgTracingOptions;
  /** More instrumentations to register. */
  instrumentations?: Instrumentation[];
  /** Where tracing says what it cannot do (once each, at warn). Default: obskit's own logger. */
  logger?: WarnLogger;
}

export interface TracingHandle {
  readonly provider: NodeTracerProvider | undefined;
  readonly enabled: boolean;
  /** Whether obskit's shared context manager is the registered one (one store per request). */
  readonly sharedContext?: boolean;
  /** What became of the ended spans: exported, lost to failed exports, pending. */
  readonly delivery?: SpanDelivery;
  forceFlush(): Promise<void>;
  /** Flushes pending spans and stops the SDK. Idempotent. */
  shutdown(): Promise<void>;
  /**
   * `shutdown()`, given at most `ms`: resolves when it is done or when the time is up, with
   * whether it completed and how many spans were still pending (a collector that is down or does
   * not answer keeps the flush from completing; the process need not wait for it).
   */
  shutdownWithin(ms: number): Promise<{ completed: boolean; pending: number }>;
}

const kHandle = Symbol.for('obskit.tracing.handle');
const store = globalThis as Record<symbol, unknown>;

/** The handle of the tracing started in this process (also by the preload), if any. */
export function getTracingHandle(): TracingHandle | undefined {
  return store[kHandle] as TracingHandle | undefined;
}

const noop: TracingHandle = {
  provider: undefined,
  enabled: false,
  forceFlush: async () => {},
  shutdown: async () => {},
  shutdownWithin: async () => ({ completed: true, pending: 0 }),
};

function isExporter(value: unknown): value is SpanExporter {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as SpanExporter).export === 'function'
  );
}

function otlpExporter(protocol: OtlpProtocol, url: string): SpanExporter {
  if (protocol === 'grpc') {
    // Loaded only when asked for: gRPC's client is heavy, and most collectors take OTLP/HTTP.
    const { OTLPTraceExporter } = createRequire(import.meta.url)(
      '@opentelemetry/exporter-trace-otlp-grpc',
    ) as typeof OtlpGrpc;
    return new OTLPTraceExporter({ url });
  }
  return protocol === 'http/json'
    ? new OTLPJsonExporter({ url })
    : new OTLPProtobufExporter({ url });
}

/**
 * Starts OpenTelemetry tracing: a NodeTracerProvider with the propagators of `OTEL_PROPAGATORS`
 * (W3C trace context and baggage by default), a parent-based sampler, a batch span processor per
 * exporter, a resource from obskit's service identity under `OTEL_RESOURCE_ATTRIBUTES` and the
 * host and process detectors, and CLIENT spans for outgoing calls. A second call returns the
 * first handle.
 */
export function startTracing(options: TracingOptions = {}): TracingHandle {
  const existing = getTracingHandle();
  if (existing !== undefined) return existing;
  optionObject(options, 'tracing');
  const env = process.env;
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') {
    store[kHandle] = noop;
    return noop;
  }
  const serviceName = optionString(options.serviceName, 'tracing.serviceName');
  const logger =
    options.logger ??
    (serviceName === undefined ? defaultLogger() : createLogger({ service: serviceName }));
  const warn = warnOnce(logger);
  const serviceVersion = optionString(options.serviceVersion, 'tracing.serviceVersion');
  const environment = optionString(options.environment, 'tracing.environment');
  const sampleRatio = optionNumber(options.sampleRatio, 'tracing.sampleRatio', undefined, {
    min: 0,
    max: 1,
  });
  const processorKind = optionOneOf(
    options.processor,
    'tracing.processor',
    ['batch', 'simple'],
    'batch',
  );
  const protocol =
    options.protocol === undefined
      ? protocolFromEnv(env, warn)
      : optionOneOf(
          options.protocol,
          'tracing.protocol',
          ['http/protobuf', 'http/json', 'grpc'],
          'http/protobuf',
        );
  const endpoint = tracesEndpoint(
    optionString(options.endpoint, 'tracing.endpoint'),
    env,
    protocol,
  );
  const outgoing = optionBoolean(options.outgoing, 'tracing.outgoing', true);
  const resourceAttributes = optionObject(options.resourceAttributes, 'tracing.resourceAttributes');

  const exporterOption = options.exporter;
  let wanted: (ExporterName | SpanExporter)[];
  if (exporterOption === undefined) wanted = exportersFromEnv(env.OTEL_TRACES_EXPORTER, warn);
  else if (exporterOption === 'none') wanted = [];
  else wanted = Array.isArray(exporterOption) ? exporterOption : [exporterOption];
  const exporters = wanted.map((item, i) => {
    if (isExporter(item)) return item;
    if (item === 'otlp') return otlpExporter(protocol, endpoint);
    if (item === 'console') return new ConsoleSpanExporter();
    throw invalidOption(
      Array.isArray(exporterOption) ? `tracing.exporter[${i}]` : 'tracing.exporter',
      '"otlp", "console", "none", a SpanExporter or a list of them',
      item,
    );
  });

  // obskit's defaults (the service identity) under what the environment and the detectors say
  // (`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`, host, process), under what the code gives.
  const identity = serviceIdentity({}, 'tracing');
  const resource = defaultResource()
    .merge(
      resourceFromAttributes({
        [ATTR_SERVICE_NAME]: identity.service,
        [ATTR_SERVICE_VERSION]: identity.version,
        [ATTR_DEPLOYMENT_ENVIRONMENT_NAME]: identity.env,
      }),
    )
    .merge(detectResources({ detectors: [envDetector, hostDetector, processDetector] }))
    .merge(
      resourceFromAttributes({
        ...(serviceName === undefined ? {} : { [ATTR_SERVICE_NAME]: serviceName }),
        ...(serviceVersion === undefined ? {} : { [ATTR_SERVICE_VERSION]: serviceVersion }),
        ...(environment === undefined ? {} : { [ATTR_DEPLOYMENT_ENVIRONMENT_NAME]: environment }),
        ...resourceAttributes,
      }),
    );
  // Every export's outcome is counted (lost spans are said and counted, never silent).
  const delivery = new DeliveryCounter(exporters.length, logger);
  const spanProcessors: SpanProcessor[] = [
    delivery.processor(),
    ...exporters.map((raw) => {
      const exporter = delivery.wrap(raw);
      return processorKind === 'simple'
        ? new SimpleSpanProcessor(exporter)
        : new BatchSpanProcessor(exporter, options.batch);
    }),
  ];
  const provider = new NodeTracerProvider({
    resource,
    sampler: samplerFromEnv(sampleRatio, env, warn),
    spanProcessors,
  });
  provider.register({
    propagator: propagatorFromEnv(env.OTEL_PROPAGATORS, warn),
    contextManager: null,
  });
  // One store per request when obskit's context manager is the registered one; the API says
  // whether it took it (another may be registered already, by hand or by another SDK).
  const sharedContext = context.setGlobalContextManager(new SharedContextManager().enable());
  if (!sharedContext) {
    warn(
      'another OpenTelemetry context manager is registered already: obskit uses it (one more store to enter per request); start obskit tracing first to share one store',
    );
  }

  const incoming = optionBoolean(options.incomingHttpSpans, 'tracing.incomingHttpSpans', false);
  const instrumentations: Instrumentation[] = [...(options.instrumentations ?? [])];
  const stops: (() => void)[] = [];
  if (outgoing) {
    // fetch and node:http: obskit's one client span, from the channels undici and Node.js
    // (22.14 and later, for node:http) publish before a request's headers are written; on an
    // older Node.js the watch says once what is not traced and how to get it.
    const fields = propagation.fields().map((field) => field.toLowerCase());
    stops.push(traceOutgoingCalls(provider.getTracer('@obskit/tracing'), fields));
    watchHttpAnnouncements(logger);
  }
  // instrumentation-http, on request, for incoming server spans only (obskit's adapters make
  // route-named server spans without it).
  if (incoming) {
    instrumentations.push(
      new HttpInstrumentation({
        disableIncomingRequestInstrumentation: false,
        disableOutgoingRequestInstrumentation: true,
      }),
    );
  }
  const pg = options.pg ?? true;
  // One already given by the app (its own configuration) is kept: two would double every span.
  const ownPg = instrumentations.some(
    (i) => i.instrumentationName === '@opentelemetry/instrumentation-pg',
  );
  if (pg !== false && !ownPg) {
    const pgOptions = pg === true ? {} : (optionObject(pg, 'tracing.pg') ?? {});
    instrumentations.push(pgInstrumentation(pgOptions));
  }
  const unregister = registerInstrumentations({ tracerProvider: provider, instrumentations });

  let stopped: Promise<void> | undefined;
  const handle: TracingHandle = {
    provider,
    enabled: true,
    sharedContext,
    delivery,
    forceFlush: () => provider.forceFlush(),
    async shutdownWithin(ms) {
      let timer: NodeJS.Timeout | undefined;
      try {
        // A shutdown that fails rejects here, as `shutdown()` does.
        const completed = await Promise.race([
          handle.shutdown().then(() => true),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(false), ms);
          }),
        ]);
        return { completed, pending: delivery.pending };
      } finally {
        clearTimeout(timer);
      }
    },
    shutdown() {
      stopped ??= (async () => {
        for (const stop of stops) stop();
        unregister();
        await provider.shutdown();
        trace.disable();
        propagation.disable();
        context.disable();
        if (store[kHandle] === handle) store[kHandle] = undefined;
      })();
      return stopped;
    },
  };
  store[kHandle] = handle;
  diag.debug('obskit tracing started');
  return handle;
}

/** Whether obskit's shared context manager is the registered one, as its registration said. */
export function sharedContextActive(): boolean {
  return getTracingHandle()?.sharedContext === true;
}
