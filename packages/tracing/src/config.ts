// The standard OTEL_* variables, read once at start. A value obskit does not know is said once,
// at warn, and the specification's default is used instead: a typo in a deployment never stops
// the service from starting. (Bad values passed in code still throw: they fail at registration.)
import type { TextMapPropagator } from '@opentelemetry/api';
import {
  CompositePropagator,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
} from '@opentelemetry/sdk-trace-node';
import type { WarnLogger } from '@obskit/core/internal';

export type Warn = (message: string, fields?: Record<string, unknown>) => void;

/** A `Warn` that says each message once. */
export function warnOnce(logger: WarnLogger): Warn {
  const said = new Set<string>();
  return (message, fields = {}) => {
    if (said.has(message)) return;
    said.add(message);
    logger.warn(fields, message);
  };
}

function list(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((item) => item.trim().toLowerCase())
    .filter((item) => item !== '');
}

export type ExporterName = 'otlp' | 'console';

/** `OTEL_TRACES_EXPORTER`: a list of `otlp`, `console`, or `none`. Default `otlp`. */
export function exportersFromEnv(value: string | undefined, warn: Warn): ExporterName[] {
  const names = list(value);
  if (names.length === 0) return ['otlp'];
  if (names.includes('none')) return [];
  const known: ExporterName[] = [];
  for (const name of names) {
    if (name === 'otlp' || name === 'console') {
      if (!known.includes(name)) known.push(name);
    } else {
      warn(
        `OTEL_TRACES_EXPORTER: unknown exporter "${name}" ignored (obskit knows otlp, console, none)`,
        {
          variable: 'OTEL_TRACES_EXPORTER',
          value,
        },
      );
    }
  }
  return known.length > 0 ? known : ['otlp'];
}

export type OtlpProtocol = 'http/protobuf' | 'http/json' | 'grpc';

/**
 * `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf`
 * (the specification's default), `http/json` or `grpc`.
 */
export function protocolFromEnv(env: NodeJS.ProcessEnv, warn: Warn): OtlpProtocol {
  const variable = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL
    ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const value = env[variable]?.trim().toLowerCase();
  if (value === undefined || value === '' || value === 'http/protobuf') return 'http/protobuf';
  if (value === 'http/json') return 'http/json';
  if (value === 'grpc') return 'grpc';
  warn(`${variable}: "${value}" is not supported by obskit; exporting over http/protobuf`, {
    variable,
    value,
  });
  return 'http/protobuf';
}

/** `OTEL_PROPAGATORS`: `tracecontext`, `baggage`, `b3`, `b3multi`, `none`. Default `tracecontext,baggage`. */
export function propagatorFromEnv(value: string | undefined, warn: Warn): TextMapPropagator {
  const names = list(value);
  const chosen = names.length === 0 ? ['tracecontext', 'baggage'] : names;
  if (chosen.includes('none')) return new CompositePropagator({ propagators: [] });
  const propagators: TextMapPropagator[] = [];
  for (const name of new Set(chosen)) {
    if (name === 'tracecontext') propagators.push(new W3CTraceContextPropagator());
    else if (name === 'baggage') propagators.push(new W3CBaggagePropagator());
    else if (name === 'b3') propagators.push(new B3Propagator());
    else if (name === 'b3multi') {
      propagators.push(new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER }));
    } else {
      warn(
        `OTEL_PROPAGATORS: unknown propagator "${name}" ignored (obskit knows tracecontext, baggage, b3, b3multi, none)`,
        { variable: 'OTEL_PROPAGATORS', value },
      );
    }
  }
  if (propagators.length === 0) {
    propagators.push(new W3CTraceContextPropagator(), new W3CBaggagePropagator());
  }
  return new CompositePropagator({ propagators });
}

// A ratio of 1 (or 0) samples every (no) trace: the always-on (off) sampler decides it without
// reading the trace id.
export function ratioSampler(ratio: number): Sampler {
  if (ratio >= 1) return new AlwaysOnSampler();
  if (ratio <= 0) return new AlwaysOffSampler();
  return new TraceIdRatioBasedSampler(ratio);
}

/**
 * The sampler: parent-based with `ratio` for new traces when given in code, else
 * `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, else parent-based always-on.
 */
export function samplerFromEnv(
  ratio: number | undefined,
  env: NodeJS.ProcessEnv,
  warn: Warn,
): Sampler {
  if (ratio !== undefined) return new ParentBasedSampler({ root: ratioSampler(ratio) });
  const name = env.OTEL_TRACES_SAMPLER?.trim().toLowerCase();
  const argText = env.OTEL_TRACES_SAMPLER_ARG?.trim();
  let arg = 1;
  if (argText !== undefined && argText !== '') {
    const parsed = Number(argText);
    if (Number.isFinite(parsed) && parsed >= 0 && parsed <= 1) arg = parsed;
    else {
      warn(`OTEL_TRACES_SAMPLER_ARG: "${argText}" is not a ratio from 0 to 1; using 1`, {
        variable: 'OTEL_TRACES_SAMPLER_ARG',
        value: argText,
      });
    }
  }
  switch (name) {
    case undefined:
    case '':
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratioSampler(arg);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratioSampler(arg) });
    default:
      warn(`OTEL_TRACES_SAMPLER: unknown sampler "${name}"; using parentbased_always_on`, {
        variable: 'OTEL_TRACES_SAMPLER',
        value: name,
      });
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** The OTLP/HTTP traces URL: the option, else the signal's variable, else the base + `/v1/traces`. */
export function tracesEndpoint(
  option: string | undefined,
  env: NodeJS.ProcessEnv,
  protocol: OtlpProtocol = 'http/protobuf',
): string {
  if (option !== undefined) return option;
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  // gRPC: the collector's address as given (4317 by default), no signal path.
  if (protocol === 'grpc') return env.OTEL_EXPORTER_OTLP_ENDPOINT || 'http://localhost:4317';
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT || 'http://localhost:4318';
  return `${base.replace(/\/$/, '')}/v1/traces`;
}
