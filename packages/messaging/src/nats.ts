// NATS JetStream through `nats`: publishes under a PRODUCER span with the trace context and
// request id in the message headers, pull consumers that run each message in its CONSUMER span
// and settle it, consumer lag read at scrape time, a readiness check and a graceful stop.
import {
  invalidOption,
  optionBoolean,
  optionNumber,
  optionObject,
  optionString,
} from '@obskit/core/internal';
import {
  headers as natsHeaders,
  type Consumer,
  type JetStreamClient,
  type JetStreamManager,
  type JetStreamPublishOptions,
  type JsMsg,
  type MsgHdrs,
  type NatsConnection,
  type PubAck,
} from 'nats';
import {
  closeQuietly,
  InFlight,
  MessagingTelemetry,
  registerShutdown,
  resolveConsume,
  shutdownHostOption,
  type ConsumeOptions,
  type MessageHandler,
  type MessagingOptions,
  type ShutdownHost,
} from './shared.js';

export type {
  ConsumeOptions,
  DeliveryInfo,
  ErrorPolicy,
  MessageHandler,
  MessageOutcome,
} from './shared.js';

export interface JetStreamOptions extends MessagingOptions {
  /**
   * The connection: `check()` fails while it is closed or reconnecting and measures a round trip
   * otherwise; the shutdown drains and closes it.
   */
  connection?: NatsConnection;
  /**
   * obskit's health (`app.health`, `o.health`): at the signal the consumers stop pulling, the
   * shutdown waits for their messages in flight, then drains the connection.
   */
  health?: ShutdownHost;
  /** Drain and close `connection` at shutdown. Default true. */
  closeConnection?: boolean;
}

export interface JetStreamConsumer {
  readonly stream: string;
  readonly name: string;
  readonly inFlight: number;
  /**
   * Stops pulling and resolves once the messages in flight are settled (within one pull's
   * `pullExpiresMs`); a message that arrives for the pull in progress is processed too (it is
   * within the free slots).
   */
  stop(): Promise<void>;
}

export interface JetStreamConsumeOptions<T> extends ConsumeOptions<T> {
  /** Messages processed at once, and pulled at most at once. Default 1. */
  concurrency?: number;
  /**
   * How long one pull waits for messages (`consumer.fetch({ expires })`), and so the longest a
   * stop waits for the pull in progress to end. Default 1000 ms (JetStream's minimum).
   */
  pullExpiresMs?: number;
}

export interface JetStreamInstrumentation {
  readonly registry: MessagingTelemetry['registry'];
  /** `js.publish` with the trace context and request id in the headers; timed until the stream's ack. */
  publish(
    js: JetStreamClient,
    subject: string,
    data?: Uint8Array | string,
    options?: Partial<JetStreamPublishOptions>,
  ): Promise<PubAck>;
  /** Runs `handler` on every message of a pull consumer (`js.consumers.get(stream, durable)`). */
  consume<T = Uint8Array>(
    consumer: Consumer,
    // The value's type comes from `parse`, not from the handler's parameter.
    handler: MessageHandler<NoInfer<T>, JsMsg>,
    options?: JetStreamConsumeOptions<T>,
  ): Promise<JetStreamConsumer>;
  /**
   * Lag of a durable consumer, read at scrape time: `num_pending`, `num_ack_pending`, and the age
   * of the oldest message not yet acknowledged (the stream message after the ack floor).
   */
  watchConsumer(jsm: JetStreamManager, stream: string, consumer: string): () => void;
  /** Readiness: rejects while the connection is closed or reconnecting, else after a round trip. */
  check(): Promise<void>;
  stop(): Promise<void>;
  /** `stop()`, then removes every reader and status watcher. */
  close(): Promise<void>;
}

const encoder = new TextEncoder();

/** obskit's instrumentation of one NATS connection's JetStream producers and consumers. */
export function instrumentJetStream(options: JetStreamOptions = {}): JetStreamInstrumentation {
  optionObject(options, 'nats');
  const telemetry = new MessagingTelemetry('nats', options);
  const connection = options.connection;
  if (
    connection !== undefined &&
    (typeof connection?.isClosed !== 'function' || typeof connection.status !== 'function')
  ) {
    throw invalidOption('nats.connection', 'a NATS connection', connection);
  }
  const health = shutdownHostOption(options.health, 'nats.health');
  const closeConnection = optionBoolean(options.closeConnection, 'nats.closeConnection', true);

  // Disconnected between a `disconnect` and a `reconnect` status.
  let down: string | undefined;
  const statuses = connection?.status() as
    (AsyncIterable<{ type: string }> & { stop?: () => void }) | undefined;
  if (statuses !== undefined) {
    void (async () => {
      for await (const status of statuses) {
        if (status.type === 'disconnect') down = 'the NATS connection is lost; reconnecting';
        else if (status.type === 'reconnect') down = undefined;
      }
    })().catch(() => undefined);
  }
  // Consumers whose pulls fail now (the durable consumer deleted, the stream gone), with why.
  const failing = new Map<JetStreamConsumer, string>();

  const consumers = new Set<JetStreamConsumer>();

  const publish = (
    js: JetStreamClient,
    subject: string,
    data?: Uint8Array | string,
    publishOptions: Partial<JetStreamPublishOptions> = {},
  ): Promise<PubAck> => {
    const name = optionString(subject, 'nats.publish.subject');
    if (name === undefined) throw invalidOption('nats.publish.subject', 'a subject', subject);
    const body = typeof data === 'string' ? encoder.encode(data) : (data ?? new Uint8Array());
    // Made only when there is something to carry: a message without headers is cheaper to
    // encode (PUB, not HPUB). A copy of yours: one you reuse never keeps this message's ids.
    let headers: MsgHdrs | undefined;
    return telemetry.send(
      name,
      (key, value) => {
        if (headers === undefined) {
          headers = natsHeaders();
          for (const [k, values] of publishOptions.headers ?? []) {
            for (const v of values) headers.append(k, v);
          }
        }
        if (!headers.has(key)) headers.set(key, value);
      },
      body.byteLength,
      undefined,
      () =>
        js.publish(
          name,
          body,
          headers === undefined
            ? publishOptions
            : { ...publishOptions, headers: headers as MsgHdrs },
        ),
    );
  };

  const consume = async <T>(
    consumer: Consumer,
    handler: MessageHandler<T, JsMsg>,
    consumeOptions: JetStreamConsumeOptions<T> = {},
  ): Promise<JetStreamConsumer> => {
    if (typeof consumer?.consume !== 'function') {
      throw invalidOption(
        'nats.consume.consumer',
        'a JetStream consumer (js.consumers.get())',
        consumer,
      );
    }
    if (typeof handler !== 'function')
      throw invalidOption('nats.consume.handler', 'a function', handler);
    const resolved = resolveConsume(consumeOptions, telemetry, 'nats.consume');
    const concurrency = optionNumber(consumeOptions.concurrency, 'nats.consume.concurrency', 1, {
      min: 1,
      integer: true,
    });
    const expires = optionNumber(consumeOptions.pullExpiresMs, 'nats.consume.pullExpiresMs', 1000, {
      min: 1000,
      integer: true,
    });
    const info = await consumer.info(true);
    const stream = info.stream_name;
    const durable = info.name;
    const inFlight = new InFlight();
    let stopping = false;
    // A handler that runs longer than the consumer's ack wait keeps its message: `working()`
    // every third of it, or the server would redeliver it (here too, with concurrency > 1).
    const ackWaitMs = Math.max(1000, (info.config.ack_wait ?? 30_000_000_000) / 1_000_000);
    const running = new Map<JsMsg, number>();
    const heartbeat = setInterval(() => {
      const due = performance.now() - ackWaitMs / 3;
      for (const [message, since] of running) {
        if (since > due) continue;
        try {
          message.working();
          running.set(message, performance.now());
        } catch {
          // The connection is gone: the server redelivers it after the ack wait anyway.
        }
      }
    }, ackWaitMs / 3);
    heartbeat.unref();
    const handle = (message: JsMsg): Promise<unknown> => {
      let redelivered = false;
      let sequence = 0;
      try {
        redelivered = message.info.deliveryCount > 1;
        sequence = message.info.streamSequence;
      } catch {
        // A reply subject the client cannot parse: processed as a first delivery.
      }
      inFlight.add();
      running.set(message, performance.now());
      return telemetry
        .process(
          {
            name: message.subject,
            message,
            body: message.data,
            redelivered,
            header: (key) => {
              const h = message.headers;
              return h?.has(key) ? h.get(key) : undefined;
            },
            attributes: {
              'messaging.destination.subscription.name': durable,
              'messaging.nats.stream': stream,
              'messaging.nats.stream_sequence': sequence,
            },
            settle: (outcome) => {
              if (outcome === 'ack') message.ack();
              else if (outcome === 'requeue') message.nak();
              else message.term();
            },
          },
          handler,
          resolved,
        )
        .finally(() => {
          running.delete(message);
          inFlight.done();
        });
    };

    // One pull loop: each pull (`fetch`) asks for as many messages as there are free slots, so
    // no message waits in this process unprocessed (its ack timer running). A message that
    // arrives for the pull in progress when the stop comes is processed too: it is within the
    // free slots, and handing it back would count a delivery it never had.
    const free: (() => void)[] = [];
    const slotFree = (): Promise<void> =>
      inFlight.size < concurrency ? Promise.resolve() : new Promise((r) => free.push(r));
    const made: { self?: JetStreamConsumer } = {};
    const pullLoop = async (): Promise<void> => {
      while (!stopping) {
        await slotFree();
        if (stopping) return;
        try {
          const batch = await consumer.fetch({
            max_messages: concurrency - inFlight.size,
            expires,
          });
          let received = 0;
          for await (const message of batch) {
            received++;
            void handle(message).finally(() => free.shift()?.());
          }
          const ended = await batch.closed();
          if (ended instanceof Error) throw ended;
          // A pull can also end empty while the consumer is gone: after a failure, an empty one
          // counts as working only once the server knows the consumer again.
          if (made.self !== undefined && failing.has(made.self) && received === 0) {
            await consumer.info();
          }
          if (made.self !== undefined && failing.delete(made.self)) {
            telemetry.logger.warn(
              { stream, consumer: durable },
              `nats: pulling from ${stream}/${durable} works again`,
            );
          }
        } catch (error) {
          if (stopping) break;
          if (made.self !== undefined && !failing.has(made.self)) {
            const reason = `pulling from ${stream}/${durable} fails: ${error instanceof Error ? error.message : String(error)}`;
            failing.set(made.self, reason);
            telemetry.logger.warn(
              { err: error },
              `nats: ${reason}; retrying (said once, and once when it works again)`,
            );
          }
          await new Promise((r) => setTimeout(r, expires).unref());
        }
      }
    };
    const loop = pullLoop();

    let stopped: Promise<void> | undefined;
    const handleOut: JetStreamConsumer = {
      stream,
      name: durable,
      get inFlight() {
        return inFlight.size;
      },
      stop() {
        stopped ??= (async () => {
          stopping = true;
          free.splice(0).forEach((wake) => wake());
          await loop;
          await inFlight.idle();
          clearInterval(heartbeat);
          failing.delete(handleOut);
          consumers.delete(handleOut);
        })();
        return stopped;
      },
    };
    made.self = handleOut;
    consumers.add(handleOut);
    return handleOut;
  };

  const watchConsumer = (jsm: JetStreamManager, stream: string, consumer: string): (() => void) => {
    if (typeof jsm?.consumers?.info !== 'function')
      throw invalidOption('nats.watchConsumer.jsm', 'a JetStreamManager', jsm);
    const streamName = optionString(stream, 'nats.watchConsumer.stream');
    const durable = optionString(consumer, 'nats.watchConsumer.consumer');
    if (streamName === undefined || durable === undefined) {
      throw invalidOption('nats.watchConsumer', 'a stream and a durable consumer name', {
        stream,
        consumer,
      });
    }
    return telemetry.watchLag(
      {
        destination: streamName,
        consumerGroup: durable,
        read: async () => {
          const info = await jsm.consumers.info(streamName, durable);
          const waiting = info.num_pending + info.num_ack_pending;
          let seconds: number | undefined = 0;
          if (waiting > 0) seconds = await oldestAge(jsm, streamName, info);
          return {
            messages: info.num_pending,
            ackPending: info.num_ack_pending,
            ...(seconds === undefined ? {} : { seconds }),
          };
        },
      },
      'nats.watchConsumer',
    );
  };

  const stop = async (): Promise<void> => {
    await Promise.all([...consumers].map((c) => c.stop()));
  };
  let closed = false;
  const close = async (): Promise<void> => {
    await stop();
    if (closed) return;
    closed = true;
    statuses?.stop?.();
    telemetry.close();
  };

  if (health !== undefined) {
    registerShutdown(
      health,
      () =>
        consumers.size === 0
          ? undefined
          : `JetStream consumers (${[...consumers].map((c) => `${c.stream}/${c.name}`).join(', ')})`,
      stop,
      async () => {
        await close();
        if (closeConnection && connection !== undefined && !connection.isClosed()) {
          await closeQuietly(() => connection.drain());
        }
      },
    );
  }

  return {
    registry: telemetry.registry,
    publish,
    consume,
    watchConsumer,
    async check() {
      for (const reason of failing.values()) throw new Error(reason);
      if (connection === undefined) return;
      if (connection.isClosed()) throw new Error('the NATS connection is closed');
      if (down !== undefined) throw new Error(down);
      await connection.rtt();
    },
    stop,
    close,
  };
}

/**
 * Age in seconds of the oldest message a durable consumer has not acknowledged: the stream's
 * first message after the ack floor (the next one on the consumer's subjects when that one is
 * gone: a work-queue stream, a deleted message, per-subject limits). `undefined` when the stream
 * cannot tell; the counts are kept.
 */
async function oldestAge(
  jsm: JetStreamManager,
  stream: string,
  info: { ack_floor: { stream_seq: number }; config: { filter_subject?: string } },
): Promise<number | undefined> {
  const seq = info.ack_floor.stream_seq + 1;
  const at = async (query: object) => (await jsm.streams.getMessage(stream, query as never)).time;
  let time: Date | undefined;
  try {
    time = await at({ seq });
  } catch {
    try {
      // The server's "first message at or after seq on these subjects".
      time = await at({ seq, next_by_subj: info.config.filter_subject || '>' });
    } catch {
      return undefined;
    }
  }
  return Math.max(0, (Date.now() - time.getTime()) / 1000);
}
