import { context, diag, propagation, trace, type TextMapPropagator } from '@opentelemetry/api';
import {
  CompositePropagator,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  NodeTracerProvider,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import { SharedContextManager } from './context-manager.js';
import {
  invalidOption,
  optionNumber,
  optionObject,
  optionOneOf,
  optionString,
  type WarnLogger,
} from '@obskit/core/internal';

export interface TracingOptions {
  /** `service.name`. Default `OTEL_SERVICE_NAME`, else `npm_package_name`, else `unknown_service`. */
  serviceName?: string;
  /** `service.version`. Default `npm_package_version`. */
  serviceVersion?: string;
  /** `deployment.environment.name`. Default `NODE_ENV`. */
  environment?: string;
  /** Extra resource attributes (added to `OTEL_RESOURCE_ATTRIBUTES`). */
  resourceAttributes?: Record<string, string | number | boolean>;
  /** `otlp` (default, `OTEL_TRACES_EXPORTER`), `console`, `none`, or an exporter. */
  exporter?: 'otlp' | 'console' | 'none' | SpanExporter;
  /** OTLP/HTTP traces URL. Default `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`, else `http://localhost:4318/v1/traces`. */
  endpoint?: string;
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
  /** Let instrumentation-http also make spans for incoming requests (the obskit adapters make them otherwise). Default false. */
  incomingHttpSpans?: boolean;
  /** More instrumentations to register. */
  instrumentations?: unknown[];
  /** Where tracing reports what it cannot do (once each, at warn). Default: obskit's own logger. */
  logger?: WarnLogger;
}

export interface TracingHandle {
  readonly provider: NodeTracerProvider | undefined;
  readonly enabled: boolean;
  forceFlush(): Promise<void>;
  /** Flushes pending spans and stops the SDK. Idempotent. */
  shutdown(): Promise<void>;
}

const kHandle = Symbol.for('obskit.tracing.handle');
const store = globalThis as Record<symbol, TracingHandle | undefined>;

/** The handle of the tracing started in this process (also by the preload), if any. */
export function getTracingHandle(): TracingHandle | undefined {
  return store[kHandle];
}

function parseResourceAttributes(value: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!value) return out;
  for (const pair of value.split(',')) {
    const i = pair.indexOf('=');
    if (i <= 0) continue;
    try {
      out[decodeURIComponent(pair.slice(0, i).trim())] = decodeURIComponent(
        pair.slice(i + 1).trim(),
      );
    } catch {
      // A malformed pair is skipped, as the specification asks.
    }
  }
  return out;
}

// A ratio of 1 (or 0) samples every (no) trace: the always-on (off) sampler decides it without
// reading the trace id.
function ratioSampler(ratio: number): Sampler {
  if (ratio >= 1) return new AlwaysOnSampler();
  if (ratio <= 0) return new AlwaysOffSampler();
  return new TraceIdRatioBasedSampler(ratio);
}

function samplerFromEnv(ratioOption: number | undefined): Sampler {
  const name = process.env.OTEL_TRACES_SAMPLER?.trim().toLowerCase();
  const argText = process.env.OTEL_TRACES_SAMPLER_ARG;
  const arg = argText === undefined || argText === '' ? undefined : Number(argText);
  const ratio = ratioOption ?? (arg !== undefined && arg >= 0 && arg <= 1 ? arg : 1);
  if (ratioOption !== undefined || name === undefined || name === '') {
    return new ParentBasedSampler({ root: ratioSampler(ratio) });
  }
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratioSampler(ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratioSampler(ratio) });
    default:
      throw invalidOption('OTEL_TRACES_SAMPLER', 'a known sampler name', name);
  }
}

function tracesEndpoint(option: string | undefined): string {
  if (option !== undefined) return option;
  const env = process.env;
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT || 'http://localhost:4318';
  return `${base.replace(/\/$/, '')}/v1/traces`;
}

const noop: TracingHandle = {
  provider: undefined,
  enabled: false,
  forceFlush: async () => {},
  shutdown: async () => {},
};

/**
 * Starts OpenTelemetry tracing: a NodeTracerProvider with W3C trace context and baggage,
 * a parent-based ratio sampler, a batch span processor and an exporter, plus
 * instrumentation-http for outgoing calls. Call it before the app loads `http` (or use the
 * `@obskit/tracing/register` preload). A second call returns the first handle.
 */
export function startTracing(options: TracingOptions = {}): TracingHandle {
  const existing = store[kHandle];
  if (existing !== undefined) return existing;
  optionObject(options, 'tracing');
  if (process.env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') {
    store[kHandle] = noop;
    return noop;
  }
  const env = process.env;
  const serviceName = optionString(
    options.serviceName,
    'tracing.serviceName',
    env.OTEL_SERVICE_NAME || env.npm_package_name || 'unknown_service',
  );
  const serviceVersion = optionString(
    options.serviceVersion,
    'tracing.serviceVersion',
    env.npm_package_version || '0.0.0',
  );
  const environment = optionString(
    options.environment,
    'tracing.environment',
    env.NODE_ENV || 'development',
  );
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
  const exporterOption =
    options.exporter ??
    (env.OTEL_TRACES_EXPORTER?.trim().toLowerCase() as TracingOptions['exporter']) ??
    'otlp';
  let exporter: SpanExporter | undefined;
  if (
    typeof exporterOption === 'object' &&
    exporterOption !== null &&
    typeof exporterOption.export === 'function'
  ) {
    exporter = exporterOption;
  } else if (exporterOption === 'otlp') {
    exporter = new OTLPTraceExporter({
      url: tracesEndpoint(optionString(options.endpoint, 'tracing.endpoint')),
    });
  } else if (exporterOption === 'console') {
    exporter = new ConsoleSpanExporter();
  } else if (exporterOption !== 'none') {
    throw invalidOption(
      options.exporter === undefined ? 'OTEL_TRACES_EXPORTER' : 'tracing.exporter',
      '"otlp", "console", "none" or a SpanExporter',
      exporterOption,
    );
  }

  const resource = resourceFromAttributes({
    ...parseResourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES),
    ...options.resourceAttributes,
    'service.name': serviceName,
    'service.version': serviceVersion,
    'deployment.environment.name': environment,
  });
  const spanProcessors: SpanProcessor[] =
    exporter === undefined
      ? []
      : [
          processorKind === 'simple'
            ? new SimpleSpanProcessor(exporter)
            : new BatchSpanProcessor(exporter, options.batch),
        ];
  const provider = new NodeTracerProvider({
    resource,
    sampler: samplerFromEnv(sampleRatio),
    spanProcessors,
  });
  const propagator: TextMapPropagator = new CompositePropagator({
    propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
  });
  provider.register({ propagator, contextManager: new SharedContextManager().enable() });
  const incoming = options.incomingHttpSpans === true;
  const unregister = registerInstrumentations({
    tracerProvider: provider,
    instrumentations: [
      // Incoming requests get their span from the framework adapter; leaving the server side
      // unpatched saves a context switch per request.
      new HttpInstrumentation(incoming ? {} : { disableIncomingRequestInstrumentation: true }),
      ...((options.instrumentations ?? []) as never[]),
    ],
  });

  let stopped: Promise<void> | undefined;
  const handle: TracingHandle = {
    provider,
    enabled: true,
    forceFlush: () => provider.forceFlush(),
    shutdown() {
      stopped ??= (async () => {
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
