// What RabbitMQ and NATS JetStream share: the metrics (OpenTelemetry messaging names in Prometheus
// form), bounded destination labels, trace context and the request id through message headers,
// and the processing of one delivery (consumer span, handler, outcome, metrics). The broker
// adapters (`./amqp`, `./nats`) only read their client's messages and settle them.
import {
  bucketsOption,
  defaultLogger,
  errorTypeOf,
  getRequestContext,
  invalidOption,
  optionBoolean,
  optionFunction,
  optionNumber,
  optionObject,
  optionOneOf,
  registryOption,
  type WarnLogger,
} from '@obskit/core/internal';
import {
  DEFAULT_SCRAPE_READING_TIMEOUT_MS,
  getOrCreateCounter,
  getOrCreateGauge,
  getOrCreateHistogram,
  readingGauge,
  registerScrapeErrors,
  Registry,
  scrapeReading,
  type GaugeReaders,
} from '@obskit/metrics';
import { runWithTraceContext, type TraceCarrier } from '@obskit/tracing';
import {
  context,
  propagation,
  SpanKind,
  trace,
  type Attributes,
  type Span,
} from '@opentelemetry/api';
import type { Counter, Gauge, Histogram } from 'prom-client';

/** `messaging.system` as OpenTelemetry names it. */
export type MessagingSystem = 'rabbitmq' | 'nats';

/** What a delivery ends as: acknowledged, handed back to be delivered again, or refused. */
export type MessageOutcome = 'ack' | 'requeue' | 'reject';

/**
 * What a handler that throws (or rejects) does with its message: `requeue` it, `reject` it
 * (RabbitMQ dead-letters it where the queue has a dead-letter exchange; JetStream terminates it),
 * or `retry-once`: requeue a first delivery, reject a redelivered one (the default: a passing
 * failure is retried, a poison message does not loop).
 */
export type ErrorPolicy = 'requeue' | 'reject' | 'retry-once';

export const OTHER_DESTINATION = '__other__';
export const DEFAULT_MAX_DESTINATIONS = 50;
/** Seconds; from a sub-millisecond publish to a minute-long job. */
export const DEFAULT_MESSAGING_BUCKETS: readonly number[] = Object.freeze([
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60,
]);
export const DEFAULT_SIZE_BUCKETS: readonly number[] = Object.freeze([
  64, 256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304,
]);
/** Header values longer than this are not read (a traceparent is 55 characters). */
export const MAX_CONTEXT_HEADER_LENGTH = 512;
export const REQUEST_ID_HEADER = 'x-request-id';

export interface MessagingOptions {
  /** Where the metrics go: the app's (`app.metrics.registry`, `o.metrics.registry`). Default: a new one. */
  registry?: Registry;
  /** Where failures of obskit's own are said (once each): the app's pino logger. */
  logger?: WarnLogger;
  /** Histogram buckets of the send and process durations, in seconds. */
  buckets?: number[];
  /** `messaging_client_message_size_bytes{…,messaging_operation_name}`. Default false. */
  messageSize?: boolean;
  sizeBuckets?: number[];
  /**
   * The destination label of a name: return a template (`orders.*`), or `undefined` for obskit's
   * own folding (ids, `amq.gen-*`, `_INBOX.*`, reply queues). Called once per distinct name.
   */
  destination?: (name: string) => string | undefined;
  /** Most distinct destination labels; later ones are `__other__`. Default 50. */
  maxDestinations?: number;
  /** How long a lag reading taken at scrape time may take. Default 1000 ms. */
  scrapeTimeoutMs?: number;
  /** What a handler that throws does with its message. Default `retry-once`. */
  onError?: ErrorPolicy;
  /**
   * The consumer span per delivery starts a new trace linked to the producer's span instead of
   * continuing it (for batch-like consumers). Default false: one trace from publish to process.
   */
  link?: boolean;
}

/** One delivery as a handler sees it. */
export interface DeliveryInfo {
  /** The destination it was consumed from (the queue; the JetStream subject). */
  destination: string;
  /** The broker delivered it before (RabbitMQ `redelivered`; JetStream delivery count > 1). */
  redelivered: boolean;
  /** The request id of the request that published it, when it carried one. */
  reqId: string | undefined;
  /** The consumer span (a non-recording one without tracing). */
  span: Span;
}

/** A message handler: what it returns settles the message (`ack` when it returns nothing). */
export type MessageHandler<T, M> = (
  value: T,
  message: M,
  info: DeliveryInfo,
) => MessageOutcome | void | Promise<MessageOutcome | void>;

export interface ConsumeOptions<T> {
  /**
   * Turns the body into the handler's value (`JSON.parse` of the text, say). One that throws
   * rejects the message (`onParseError`), counted under `error_type="ParseError"`; the handler is
   * not called. Default: the body as the client gives it.
   */
  parse?: (body: Uint8Array) => T;
  /** Default: the instrumentation's `onError`. */
  onError?: ErrorPolicy;
  /** What an unparseable message gets. Default `reject` (a poison message is not retried). */
  onParseError?: 'reject' | 'requeue';
}

/** A parse function that threw: the message cannot be handled. */
export class ParseError extends Error {
  constructor(cause: unknown) {
    super(
      `the message could not be parsed: ${cause instanceof Error ? cause.message : String(cause)}`,
    );
    this.name = 'ParseError';
    this.cause = cause;
  }
}

type L =
  'messaging_system' | 'messaging_destination_name' | 'messaging_operation_name' | 'error_type';
type ProcessLabels = L | 'outcome';
type LagLabels =
  'messaging_system' | 'messaging_destination_name' | 'messaging_consumer_group_name';

/** A lag reading, taken at scrape time; a field left out leaves its series out. */
export interface LagReading {
  /** Messages not yet delivered to a consumer (ready / pending). */
  messages?: number;
  /** Messages delivered and not yet acknowledged. */
  ackPending?: number;
  /** Age of the oldest unprocessed message, in seconds (0 when none is waiting). */
  seconds?: number;
  /** Consumers attached to the destination (RabbitMQ). */
  consumers?: number;
}

export interface LagSource {
  destination: string;
  /** JetStream durable consumer name. */
  consumerGroup?: string;
  read: () => LagReading | Promise<LagReading>;
}

/** The metrics and spans both adapters record; made once per instrumentation. */
export class MessagingTelemetry {
  readonly registry: Registry;
  readonly logger: WarnLogger;
  readonly onError: ErrorPolicy;
  readonly link: boolean;
  private readonly sent: Counter<L>;
  private readonly operation: Histogram<L>;
  private readonly consumed: Counter<L>;
  private readonly processed: Histogram<ProcessLabels>;
  private readonly inProgress: Gauge<L>;
  private readonly redeliveries: Counter<L>;
  readonly confirms: Gauge<L>;
  private readonly size: Histogram<L> | undefined;
  private readonly destinations = new Map<string, string>();
  private readonly maxDestinations: number;
  private readonly template: ((name: string) => string | undefined) | undefined;
  private readonly scrapeTimeoutMs: number;
  private readonly lagReaders: [GaugeReaders<LagReading>, string][] = [];
  private readonly tracer = trace.getTracer('@obskit/messaging');

  constructor(
    readonly system: MessagingSystem,
    options: MessagingOptions,
  ) {
    const path = system === 'rabbitmq' ? 'amqp' : 'nats';
    optionObject(options, path);
    this.registry =
      options.registry === undefined
        ? new Registry()
        : registryOption(options.registry, `${path}.registry`);
    this.logger = options.logger ?? defaultLogger();
    this.onError = optionOneOf(
      options.onError,
      `${path}.onError`,
      ['requeue', 'reject', 'retry-once'] as const,
      'retry-once',
    );
    this.link = optionBoolean(options.link, `${path}.link`, false);
    this.maxDestinations = optionNumber(
      options.maxDestinations,
      `${path}.maxDestinations`,
      DEFAULT_MAX_DESTINATIONS,
      {
        min: 1,
        integer: true,
      },
    );
    this.template = optionFunction(options.destination, `${path}.destination`);
    this.scrapeTimeoutMs = optionNumber(
      options.scrapeTimeoutMs,
      `${path}.scrapeTimeoutMs`,
      DEFAULT_SCRAPE_READING_TIMEOUT_MS,
      { min: 1 },
    );
    const buckets = bucketsOption(options.buckets, `${path}.buckets`, DEFAULT_MESSAGING_BUCKETS);
    const labelNames: L[] = [
      'messaging_system',
      'messaging_destination_name',
      'messaging_operation_name',
      'error_type',
    ];
    const registry = this.registry;
    this.sent = getOrCreateCounter(registry, {
      name: 'messaging_client_sent_messages_total',
      help: 'Messages the producer sent (or tried to: error_type), by system and destination.',
      labelNames,
    });
    this.operation = getOrCreateHistogram(registry, {
      name: 'messaging_client_operation_duration_seconds',
      help: 'Duration of a send in seconds, until the broker confirmed it where it does (RabbitMQ confirm channels, JetStream acks).',
      labelNames,
      buckets,
    });
    this.consumed = getOrCreateCounter(registry, {
      name: 'messaging_client_consumed_messages_total',
      help: 'Messages delivered to the consumer, by system and destination.',
      labelNames,
    });
    this.processed = getOrCreateHistogram(registry, {
      name: 'messaging_process_duration_seconds',
      help: 'Duration of processing a message in seconds, by destination, outcome (ack, requeue, reject) and error_type.',
      labelNames: [...labelNames, 'outcome'],
      buckets,
    });
    this.inProgress = getOrCreateGauge(registry, {
      name: 'messaging_messages_in_progress',
      help: 'Messages being processed now, by system and destination.',
      labelNames,
    });
    this.redeliveries = getOrCreateCounter(registry, {
      name: 'messaging_redeliveries_total',
      help: 'Deliveries of a message the broker had delivered before, by system and destination.',
      labelNames,
    });
    this.confirms = getOrCreateGauge(registry, {
      name: 'messaging_publish_confirms_outstanding',
      help: 'Messages sent and not yet confirmed by the broker, by system and destination.',
      labelNames,
    });
    this.size = optionBoolean(options.messageSize, `${path}.messageSize`, false)
      ? getOrCreateHistogram(registry, {
          name: 'messaging_client_message_size_bytes',
          help: 'Size of message bodies in bytes, by system, destination and operation (send, process).',
          labelNames,
          buckets: bucketsOption(options.sizeBuckets, `${path}.sizeBuckets`, DEFAULT_SIZE_BUCKETS),
        })
      : undefined;
  }

  /**
   * The bounded label of a destination name: the user's template, else ids folded (`amq.gen-*`,
   * `_INBOX.*`, `amq.rabbitmq.reply-to.*`, segments that are numbers, UUIDs or long hex), at
   * most `maxDestinations` distinct values, then `__other__`.
   */
  destinationLabel(name: string): string {
    const known = this.destinations.get(name);
    if (known !== undefined) return known;
    let label: string | undefined;
    if (this.template !== undefined) {
      try {
        label = this.template(name);
      } catch (error) {
        this.logger.warn(
          { err: error },
          `messaging destination template threw: ${String(error)} (obskit folds the name itself)`,
        );
      }
    }
    label = typeof label === 'string' && label !== '' ? label : foldDestination(name);
    const distinct = new Set(this.destinations.values());
    if (!distinct.has(label) && distinct.size >= this.maxDestinations) label = OTHER_DESTINATION;
    // The names seen are bounded too: past the cap, a new name is folded on every call.
    if (this.destinations.size < this.maxDestinations * 4) this.destinations.set(name, label);
    return label;
  }

  /**
   * Runs one send under a PRODUCER span (`send <destination>`), with the trace context and the
   * request id written into `headers` first; counts it and times it until `send` settles.
   */
  send<R>(
    name: string,
    headers: (key: string, value: string) => void,
    bodySize: number,
    attributes: Attributes,
    send: () => R,
  ): R {
    const destination = this.destinationLabel(name);
    const span = this.tracer.startSpan(`send ${destination}`, {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system': this.system,
        'messaging.operation.name': 'send',
        'messaging.operation.type': 'send',
        'messaging.destination.name': name,
        'messaging.message.body.size': bodySize,
        ...attributes,
      },
    });
    const carrier: Record<string, string> = {};
    propagation.inject(trace.setSpan(context.active(), span), carrier);
    for (const key in carrier) headers(key, carrier[key] as string);
    const reqId = getRequestContext()?.reqId;
    if (reqId !== undefined) headers(REQUEST_ID_HEADER, reqId);
    const labels = {
      messaging_system: this.system,
      messaging_destination_name: destination,
      messaging_operation_name: 'send',
    };
    this.size?.observe(labels, bodySize);
    const started = performance.now();
    const done = (error: unknown): void => {
      const seconds = (performance.now() - started) / 1000;
      if (error === undefined) {
        this.sent.inc(labels);
        this.operation.observe(labels, seconds);
      } else {
        const failed = { ...labels, error_type: errorTypeOf(error) };
        this.sent.inc(failed);
        this.operation.observe(failed, seconds);
        span.recordException(error as Error);
        span.setStatus({
          code: 2,
          message: error instanceof Error ? error.message : String(error),
        });
        span.setAttribute('error.type', failed.error_type);
      }
      span.end();
    };
    let result: R;
    try {
      result = send();
    } catch (error) {
      done(error);
      throw error;
    }
    if (result !== null && typeof (result as { then?: unknown })?.then === 'function') {
      return (result as unknown as Promise<unknown>).then(
        (value) => {
          done(undefined);
          return value;
        },
        (error: unknown) => {
          done(error);
          throw error;
        },
      ) as R;
    }
    done(undefined);
    return result;
  }

  /**
   * Processes one delivery: counts it, runs the handler in a CONSUMER span (`process
   * <destination>`) continuing the producer's trace, with the request id it carried, and settles
   * it with what the handler chose (or the error policy). Never throws: a failure of the handler,
   * the parser or the settle call is counted and said.
   */
  async process<T, M>(
    delivery: {
      name: string;
      message: M;
      body: Uint8Array;
      redelivered: boolean;
      header: (key: string) => string | undefined;
      attributes: Attributes;
      settle: (outcome: MessageOutcome) => void;
    },
    handler: MessageHandler<T, M>,
    options: ResolvedConsume<T>,
  ): Promise<MessageOutcome> {
    const destination = this.destinationLabel(delivery.name);
    const labels = {
      messaging_system: this.system,
      messaging_destination_name: destination,
      messaging_operation_name: 'process',
    };
    this.consumed.inc(labels);
    if (delivery.redelivered) this.redeliveries.inc(labels);
    this.size?.observe(labels, delivery.body.byteLength);
    this.inProgress.inc(labels);
    const started = performance.now();
    const carrier = contextOf(delivery.header);
    const reqId = requestIdOf(delivery.header);
    let outcome: MessageOutcome;
    let errorType: string | undefined;
    try {
      outcome = await runWithTraceContext(
        carrier,
        `process ${destination}`,
        async (span) => {
          let value: T;
          try {
            value =
              options.parse === undefined ? (delivery.body as T) : options.parse(delivery.body);
          } catch (error) {
            throw new ParseError(error);
          }
          const chosen = await handler(value, delivery.message, {
            destination: delivery.name,
            redelivered: delivery.redelivered,
            reqId,
            span,
          });
          const result = chosen ?? 'ack';
          if (result !== 'ack' && result !== 'requeue' && result !== 'reject') {
            throw invalidOption(
              'messaging.handler result',
              '"ack", "requeue", "reject" or nothing',
              result,
            );
          }
          span.setAttribute('messaging.outcome', result);
          return result;
        },
        {
          link: this.link,
          ...(reqId === undefined ? {} : { reqId }),
          attributes: {
            'messaging.system': this.system,
            'messaging.operation.name': 'process',
            'messaging.operation.type': 'process',
            'messaging.destination.name': delivery.name,
            'messaging.message.body.size': delivery.body.byteLength,
            ...delivery.attributes,
          },
        },
      );
    } catch (error) {
      errorType = error instanceof ParseError ? 'ParseError' : errorTypeOf(error);
      const policy = error instanceof ParseError ? options.onParseError : options.onError;
      outcome = policy === 'retry-once' ? (delivery.redelivered ? 'reject' : 'requeue') : policy;
    }
    try {
      delivery.settle(outcome);
    } catch (error) {
      // The channel or connection went away: the broker redelivers the message.
      errorType ??= errorTypeOf(error);
      this.settleFailed(error);
    }
    this.inProgress.dec(labels);
    this.processed.observe(
      errorType === undefined
        ? { ...labels, outcome }
        : { ...labels, outcome, error_type: errorType },
      (performance.now() - started) / 1000,
    );
    return outcome;
  }

  private settleReported = false;
  private settleFailed(error: unknown): void {
    if (this.settleReported) return;
    this.settleReported = true;
    this.logger.warn(
      { err: error },
      `messaging: a message could not be settled (${error instanceof Error ? error.message : String(error)}); the broker delivers it again (said once)`,
    );
  }

  /** Zeroes the in-progress series of a destination, so that it shows before its first message. */
  touch(name: string): void {
    const destination = this.destinationLabel(name);
    this.inProgress.inc(
      {
        messaging_system: this.system,
        messaging_destination_name: destination,
        messaging_operation_name: 'process',
      },
      0,
    );
  }

  /**
   * Lag gauges read at scrape time from `source`, under the scrape timeout; a reading that fails
   * leaves its series out, is counted in `obskit_scrape_errors_total` and said once.
   */
  watchLag(source: LagSource, path: string): () => void {
    const destination = this.destinationLabel(source.destination);
    const key = `${this.system}\u0000${destination}\u0000${source.consumerGroup ?? ''}`;
    const name =
      source.consumerGroup === undefined ? destination : `${destination}/${source.consumerGroup}`;
    const read = scrapeReading(source.read, {
      registry: this.registry,
      source: `${this.system}_lag`,
      name,
      path,
      timeoutMs: this.scrapeTimeoutMs,
      logger: this.logger,
    });
    const labelNames: LagLabels[] = [
      'messaging_system',
      'messaging_destination_name',
      'messaging_consumer_group_name',
    ];
    const labelsOf = () => ({
      messaging_system: this.system,
      messaging_destination_name: destination,
      ...(source.consumerGroup === undefined
        ? {}
        : { messaging_consumer_group_name: source.consumerGroup }),
    });
    const gauge = (metric: string, help: string, field: keyof LagReading) => {
      const readers = readingGauge<LagReading>(
        this.registry,
        metric,
        help,
        labelNames,
        (g, _key, value) => {
          const n = value[field];
          if (typeof n === 'number' && Number.isFinite(n)) g.set(labelsOf(), n);
        },
      );
      readers.set(key, read);
      this.lagReaders.push([readers, key]);
      return readers;
    };
    const added = [
      gauge(
        'messaging_consumer_lag_messages',
        'Messages waiting for a consumer (consumer lag in messages), read at scrape time.',
        'messages',
      ),
      gauge(
        'messaging_consumer_lag_seconds',
        'Age of the oldest message not yet processed, in seconds (consumer lag in seconds), read at scrape time.',
        'seconds',
      ),
      gauge(
        'messaging_consumer_ack_pending_messages',
        'Messages delivered and not yet acknowledged, read at scrape time.',
        'ackPending',
      ),
      gauge(
        'messaging_destination_consumers',
        'Consumers attached to the destination, read at scrape time.',
        'consumers',
      ),
    ];
    registerScrapeErrors(this.registry, `${this.system}_lag`, name);
    return () => {
      for (const readers of added) if (readers.get(key) === read) readers.delete(key);
    };
  }

  /** Removes every lag reader this instrumentation added. */
  close(): void {
    for (const [readers, key] of this.lagReaders.splice(0)) readers.delete(key);
  }
}

export interface ResolvedConsume<T> {
  parse: ((body: Uint8Array) => T) | undefined;
  onError: ErrorPolicy;
  onParseError: 'reject' | 'requeue';
}

/** Consume options checked once, at `consume()`. */
export function resolveConsume<T>(
  options: ConsumeOptions<T> | undefined,
  telemetry: MessagingTelemetry,
  path: string,
): ResolvedConsume<T> {
  optionObject(options, path);
  return {
    parse: optionFunction(options?.parse, `${path}.parse`),
    onError: optionOneOf(
      options?.onError,
      `${path}.onError`,
      ['requeue', 'reject', 'retry-once'] as const,
      telemetry.onError,
    ),
    onParseError: optionOneOf(
      options?.onParseError,
      `${path}.onParseError`,
      ['reject', 'requeue'] as const,
      'reject',
    ),
  };
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;
const LONG_HEX = /(?<![0-9a-z])[0-9a-f]{16,}(?![0-9a-z])/gi;
const NUMBER_RUN = /(?<![a-z])\d{4,}(?![a-z])/gi;
const GENERATED_PREFIXES = ['amq.gen-', 'amq.rabbitmq.reply-to.', '_INBOX.', '$JS.ACK.'];

/**
 * obskit's folding of a destination name into a bounded label: server-named queues, reply queues
 * and inboxes become their prefix with `*` (`amq.gen-*`, `_INBOX.*`); UUIDs, hex runs of 16 or
 * more and digit runs of 4 or more become `*` (`orders.4711.created` → `orders.*.created`,
 * `reply-<uuid>` → `reply-*`).
 */
export function foldDestination(name: string): string {
  if (name === '') return '(default)';
  for (const prefix of GENERATED_PREFIXES) if (name.startsWith(prefix)) return `${prefix}*`;
  if (name.length > 200) return OTHER_DESTINATION;
  return name.replace(UUID, '*').replace(LONG_HEX, '*').replace(NUMBER_RUN, '*');
}

/** The trace context a message carries, read within bounds; malformed values are left out. */
function contextOf(header: (key: string) => string | undefined): TraceCarrier | undefined {
  const traceparent = bounded(header('traceparent'));
  if (traceparent === undefined) return undefined;
  const tracestate = bounded(header('tracestate'));
  const baggage = bounded(header('baggage'));
  return {
    traceparent,
    ...(tracestate === undefined ? {} : { tracestate }),
    ...(baggage === undefined ? {} : { baggage }),
  };
}

const SAFE_ID = /^[\w.:@/+=-]{1,128}$/;
function requestIdOf(header: (key: string) => string | undefined): string | undefined {
  const id = bounded(header(REQUEST_ID_HEADER));
  return id !== undefined && SAFE_ID.test(id) ? id : undefined;
}

function bounded(value: string | undefined): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_CONTEXT_HEADER_LENGTH
    ? value
    : undefined;
}

/**
 * The in-flight deliveries of one consumer, for a graceful stop: `idle()` resolves once none is
 * being processed.
 */
export class InFlight {
  private count = 0;
  private waiters: (() => void)[] = [];
  get size(): number {
    return this.count;
  }
  add(): void {
    this.count++;
  }
  done(): void {
    if (--this.count === 0) for (const wake of this.waiters.splice(0)) wake();
  }
  idle(): Promise<void> {
    return this.count === 0
      ? Promise.resolve()
      : new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** The part of obskit's health a messaging integration registers its shutdown with. */
export interface ShutdownHost {
  onShutdownStart(hook: () => unknown): void;
  onShutdown(hook: () => unknown): void;
  hold(name: string): () => void;
}

export function shutdownHostOption(value: unknown, path: string): ShutdownHost | undefined {
  if (value === undefined) return undefined;
  const host = value as Partial<ShutdownHost> | null;
  if (
    host === null ||
    typeof host !== 'object' ||
    typeof host.onShutdownStart !== 'function' ||
    typeof host.onShutdown !== 'function' ||
    typeof host.hold !== 'function'
  ) {
    throw invalidOption(path, "obskit's health (app.health, o.health)", value);
  }
  return host as ShutdownHost;
}
