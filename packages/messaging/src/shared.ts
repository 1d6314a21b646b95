// What RabbitMQ and NATS JetStream share (index.ts re-exports the public part): the metrics
// (OpenTelemetry messaging names in Prometheus form), bounded destination labels, trace context
// and the request id through message headers, the processing of one delivery (consumer span,
// handler, outcome, metrics) and the graceful shutdown. The broker adapters (`./amqp`,
// `./nats`) only read their client's messages and settle them.
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
  readingGauge,
  registerScrapeErrors,
  Registry,
  scrapeReading,
  seriesRecorders,
  type GaugeReaders,
  type SeriesRecorder,
} from '@obskit/metrics';
import { runWithTraceContext, type TraceCarrier } from '@obskit/tracing';
import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  isSpanContextValid,
  trace,
  type Attributes,
  type Span,
} from '@opentelemetry/api';

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
let instances = 0;
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
  /**
   * The app's pino logger: a message whose handler (or parser) fails leaves one `error` line
   * (`message failed`, with `err`, the destination, the outcome and the trace ids); failures of
   * obskit's own are said once at `warn`. Default: obskit's own logger.
   */
  logger?: MessagingLogger;
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

/** A pino logger, or anything with its `warn` (and `error`, else failures go to `warn`). */
export type MessagingLogger = WarnLogger & { error?(fields: object, msg: string): void };

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

interface LabelledReading extends LagReading {
  labels: Record<string, string>;
}

export interface LagSource {
  destination: string;
  /** JetStream durable consumer name. */
  consumerGroup?: string;
  read: () => LagReading | Promise<LagReading>;
}

/** The series of one destination label, made at its first message. */
interface Destination {
  readonly system: MessagingSystem;
  readonly label: string;
  readonly sent: SeriesRecorder;
  readonly consumed: SeriesRecorder;
  readonly redelivered: SeriesRecorder;
  /** By `error_type`, for failed sends; by `outcome error_type`, for processing. */
  readonly failedSends: Map<string, SeriesRecorder>;
  readonly processed: Map<string, SeriesRecorder>;
  readonly sentSize: SeriesRecorder | undefined;
  readonly consumedSize: SeriesRecorder | undefined;
  /** Read by the gauges at scrape time, for the destinations sent to / consumed from. */
  inProgress: number;
  confirms: number;
  sending: boolean;
  consuming: boolean;
}

type Recorders = (labels: Record<string, string>) => SeriesRecorder;

/** The metrics and spans both adapters record; made once per instrumentation. */
export class MessagingTelemetry {
  readonly registry: Registry;
  readonly logger: MessagingLogger;
  readonly onError: ErrorPolicy;
  readonly link: boolean;
  // Series recorders (obskit's series store: no label hashing per message), per metric.
  private readonly sendSeries: Recorders;
  private readonly consumedSeries: Recorders;
  private readonly processSeries: Recorders;
  private readonly redeliveredSeries: Recorders;
  private readonly sizeSeries: Recorders | undefined;
  private readonly byName = new Map<string, Destination>();
  private readonly byLabel = new Map<string, Destination>();
  private readonly maxDestinations: number;
  private readonly template: ((name: string) => string | undefined) | undefined;
  private readonly scrapeTimeoutMs: number;
  private readonly lagReaders: [GaugeReaders<LabelledReading>, string, unknown][] = [];
  private readonly gaugeReaders: [GaugeReaders<Destination[]>, string, unknown][] = [];
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
      { min: 1, integer: true },
    );
    this.template = optionFunction(options.destination, `${path}.destination`);
    this.scrapeTimeoutMs = optionNumber(
      options.scrapeTimeoutMs,
      `${path}.scrapeTimeoutMs`,
      DEFAULT_SCRAPE_READING_TIMEOUT_MS,
      { min: 1 },
    );
    const buckets = bucketsOption(options.buckets, `${path}.buckets`, DEFAULT_MESSAGING_BUCKETS);
    const registry = this.registry;
    this.sendSeries = seriesRecorders(registry, {
      name: 'messaging_client_operation_duration_seconds',
      help: 'Duration of a send in seconds, until the broker confirmed it where it does (RabbitMQ confirm channels, JetStream acks).',
      buckets,
      counter: {
        name: 'messaging_client_sent_messages_total',
        help: 'Messages the producer sent (or tried to: error_type), by system and destination.',
      },
    });
    this.consumedSeries = seriesRecorders(registry, {
      name: 'messaging_client_consumed_messages_total',
      help: 'Messages delivered to the consumer, by system and destination.',
    });
    this.processSeries = seriesRecorders(registry, {
      name: 'messaging_process_duration_seconds',
      help: 'Duration of processing a message in seconds, by destination, outcome (ack, requeue, reject) and error_type.',
      buckets,
    });
    this.redeliveredSeries = seriesRecorders(registry, {
      name: 'messaging_redeliveries_total',
      help: 'Deliveries of a message the broker had delivered before, by system and destination.',
    });
    this.sizeSeries = optionBoolean(options.messageSize, `${path}.messageSize`, false)
      ? seriesRecorders(registry, {
          name: 'messaging_client_message_size_bytes',
          help: 'Size of message bodies in bytes, by system, destination and operation (send, process).',
          buckets: bucketsOption(options.sizeBuckets, `${path}.sizeBuckets`, DEFAULT_SIZE_BUCKETS),
        })
      : undefined;
    // The two gauges, read from this instrumentation's destinations at scrape time.
    const key = `${system}\u0000${++instances}`;
    const gauge = (name: string, help: string, field: 'inProgress' | 'confirms') => {
      const readers = readingGauge<Destination[]>(
        registry,
        name,
        help,
        ['messaging_system', 'messaging_destination_name', 'messaging_operation_name'],
        (g, _key, destinations) => {
          for (const d of destinations) {
            if (field === 'confirms' ? !d.sending : !d.consuming) continue;
            g.inc(
              {
                messaging_system: d.system,
                messaging_destination_name: d.label,
                messaging_operation_name: field === 'inProgress' ? 'process' : 'send',
              },
              d[field],
            );
          }
        },
      );
      const read = async () => [...this.byLabel.values()];
      readers.set(key, read);
      this.gaugeReaders.push([readers, key, read]);
    };
    gauge(
      'messaging_messages_in_progress',
      'Messages being processed now, by system and destination.',
      'inProgress',
    );
    gauge(
      'messaging_publish_confirms_outstanding',
      'Messages sent and not yet confirmed by the broker, by system and destination.',
      'confirms',
    );
  }

  /**
   * The bounded label of a destination name: the user's template, else ids folded (`amq.gen-*`,
   * `_INBOX.*`, `amq.rabbitmq.reply-to.*`, UUIDs, long hex and digit runs), at most
   * `maxDestinations` distinct values, then `__other__`.
   */
  destinationLabel(name: string): string {
    return this.destination(name).label;
  }

  private destination(name: string): Destination {
    const known = this.byName.get(name);
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
    if (!this.byLabel.has(label) && this.byLabel.size >= this.maxDestinations) {
      label = OTHER_DESTINATION;
    }
    let destination = this.byLabel.get(label);
    if (destination === undefined) {
      const base = { messaging_system: this.system, messaging_destination_name: label };
      const send = { ...base, messaging_operation_name: 'send' };
      const process = { ...base, messaging_operation_name: 'process' };
      destination = {
        system: this.system,
        label,
        sent: this.sendSeries(send),
        consumed: this.consumedSeries(process),
        redelivered: this.redeliveredSeries(process),
        failedSends: new Map(),
        processed: new Map(),
        sentSize: this.sizeSeries?.(send),
        consumedSize: this.sizeSeries?.(process),
        inProgress: 0,
        confirms: 0,
        sending: false,
        consuming: false,
      };
      this.byLabel.set(label, destination);
    }
    // The names seen are bounded too: past the cap, a new name is looked up on every call.
    if (this.byName.size < this.maxDestinations * 4) this.byName.set(name, destination);
    return destination;
  }

  /** Counts a send on a confirm channel until its confirm: the returned function ends it. */
  confirmPending(name: string): () => void {
    const destination = this.destination(name);
    destination.sending = true;
    destination.confirms++;
    return () => {
      destination.confirms--;
    };
  }

  /**
   * Runs one send under a PRODUCER span (`send <destination>`), with the trace context and the
   * request id written into `headers` first; counts it and times it until `send` settles.
   */
  send<R>(
    name: string,
    headers: (key: string, value: string) => void,
    bodySize: number,
    attributes: Attributes | undefined,
    send: () => R,
  ): R {
    const destination = this.destination(name);
    const span = this.tracer.startSpan(`send ${destination.label}`, {
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
    // Also when this span is not sampled: the consumer must follow the same decision, and
    // baggage travels whatever it is. Without an SDK the span context is invalid: no headers.
    if (isSpanContextValid(span.spanContext())) {
      const carrier: Record<string, string> = {};
      propagation.inject(trace.setSpan(context.active(), span), carrier);
      for (const key in carrier) headers(key, carrier[key] as string);
    }
    const reqId = getRequestContext()?.reqId;
    if (reqId !== undefined) headers(REQUEST_ID_HEADER, reqId);
    destination.sending = true;
    destination.sentSize?.observe(bodySize);
    const started = performance.now();
    const done = (error: unknown): void => {
      const seconds = (performance.now() - started) / 1000;
      if (error === undefined) {
        destination.sent.observe(seconds);
      } else {
        const type = errorTypeOf(error);
        let failed = destination.failedSends.get(type);
        if (failed === undefined) {
          failed = this.sendSeries({
            messaging_system: this.system,
            messaging_destination_name: destination.label,
            messaging_operation_name: 'send',
            error_type: type,
          });
          destination.failedSends.set(type, failed);
        }
        failed.observe(seconds);
        span.recordException(error as Error);
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: error instanceof Error ? error.message : String(error),
        });
        span.setAttribute('error.type', type);
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
    const destination = this.destination(delivery.name);
    destination.consuming = true;
    destination.consumed.inc();
    if (delivery.redelivered) destination.redelivered.inc();
    destination.consumedSize?.observe(delivery.body.byteLength);
    destination.inProgress++;
    const started = performance.now();
    const carrier = contextOf(delivery.header);
    const reqId = requestIdOf(delivery.header);
    let outcome: MessageOutcome;
    let errorType: string | undefined;
    let failedIds: { traceId: string; spanId: string } | undefined;
    try {
      outcome = await runWithTraceContext(
        carrier,
        `process ${destination.label}`,
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
          onError: (_error, info) => {
            failedIds = info;
          },
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
      // One line per failed message, as per failed request: with its trace, found by reqId.
      const log = this.logger.error ?? this.logger.warn;
      log.call(
        this.logger,
        {
          err: error,
          destination: delivery.name,
          outcome,
          redelivered: delivery.redelivered,
          ...(reqId === undefined ? {} : { reqId }),
          ...(failedIds === undefined
            ? {}
            : { trace_id: failedIds.traceId, span_id: failedIds.spanId }),
        },
        'message failed',
      );
    }
    try {
      delivery.settle(outcome);
    } catch (error) {
      // The channel or connection went away: the broker redelivers the message.
      errorType ??= errorTypeOf(error);
      this.settleFailed(error);
    }
    destination.inProgress--;
    const key = errorType === undefined ? outcome : `${outcome} ${errorType}`;
    let processed = destination.processed.get(key);
    if (processed === undefined) {
      processed = this.processSeries({
        messaging_system: this.system,
        messaging_destination_name: destination.label,
        messaging_operation_name: 'process',
        outcome,
        ...(errorType === undefined ? {} : { error_type: errorType }),
      });
      destination.processed.set(key, processed);
    }
    processed.observe((performance.now() - started) / 1000);
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

  /** Makes a destination's series (in progress at 0) before its first message. */
  touch(name: string): void {
    this.destination(name).consuming = true;
  }

  /**
   * Lag gauges read at scrape time from `source`, under the scrape timeout; a reading that fails
   * leaves its series out, is counted in `obskit_scrape_errors_total` and said once.
   */
  watchLag(source: LagSource, path: string): () => void {
    const destination = this.destinationLabel(source.destination);
    // The raw name in the key: two names folded to one label are two readings.
    const key = `${this.system}\u0000${source.destination}\u0000${source.consumerGroup ?? ''}`;
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
    // Each reading carries its own labels: a gauge's collect is the first registration's, shared
    // by every reader on it (other destinations, another instrumentation on the registry).
    const labels = {
      messaging_system: this.system,
      messaging_destination_name: destination,
      ...(source.consumerGroup === undefined
        ? {}
        : { messaging_consumer_group_name: source.consumerGroup }),
    };
    const labelled = async (): Promise<LabelledReading | undefined> => {
      const reading = await read();
      return reading === undefined ? undefined : { ...reading, labels };
    };
    const gauge = (metric: string, help: string, field: keyof LagReading) => {
      const readers = readingGauge<LabelledReading>(
        this.registry,
        metric,
        help,
        labelNames,
        (g, _key, value) => {
          const n = value[field];
          if (typeof n !== 'number' || !Number.isFinite(n)) return;
          // Counts of names folded to one label add up; an age is the one read last.
          if (field === 'seconds') g.set(value.labels, n);
          else g.inc(value.labels, n);
        },
      );
      readers.set(key, labelled);
      this.lagReaders.push([readers, key, labelled]);
      return readers;
    };
    const added: GaugeReaders<LabelledReading>[] = [
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
      for (const readers of added) if (readers.get(key) === labelled) readers.delete(key);
    };
  }

  /** Removes every lag reader this instrumentation added. */
  close(): void {
    // Only what this instrumentation added: another on the same registry keeps its readers.
    for (const [readers, key, read] of [
      ...this.lagReaders.splice(0),
      ...this.gaugeReaders.splice(0),
    ]) {
      if (readers.get(key) === read) readers.delete(key);
    }
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
const NUMBER_RUN = /(?<![0-9a-z])\d{4,}(?![0-9a-z])/gi;
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

/**
 * Registers an integration's graceful shutdown with obskit's health: at the signal its consumers
 * stop taking messages (`stop`, not awaited: the other start hooks and the drain go on) under a
 * hold named `holdName()` (nothing held when it returns `undefined`: no consumer), which keeps
 * the shutdown waiting for the messages in hand; then, among the hooks, `close` (channels, the
 * connection). A `close` that fails is the client's own closing and is not an error here.
 */
export function registerShutdown(
  health: ShutdownHost,
  holdName: () => string | undefined,
  stop: () => Promise<void>,
  close: () => Promise<void>,
): void {
  health.onShutdownStart(() => {
    const name = holdName();
    if (name === undefined) return;
    const release = health.hold(name);
    void stop().then(release, release);
  });
  health.onShutdown(async () => {
    try {
      await close();
    } catch {
      // Closed already, with its connection.
    }
  });
}

/** Runs `close` and ignores what it throws: for channels and connections closed already. */
export async function closeQuietly(close: () => Promise<unknown>): Promise<void> {
  try {
    await close();
  } catch {
    // Closed already.
  }
}
