// NATS JetStream through `nats`: publishes under a PRODUCER span with the trace context and
// request id in the message headers, pull consumers that run each message in its CONSUMER span
// and settle it, consumer lag read at scrape time, a readiness check and a graceful stop.
import { invalidOption, optionNumber, optionObject, optionString } from '@obskit/core/internal';
import {
  headers as natsHeaders,
  type Consumer,
  type JetStreamClient,
  type JetStreamManager,
  type JetStreamPublishOptions,
  type JsMsg,
  type NatsConnection,
  type PubAck,
} from 'nats';
import {
  InFlight,
  MessagingTelemetry,
  resolveConsume,
  shutdownHostOption,
  type ConsumeOptions,
  type MessageHandler,
  type MessagingOptions,
  type ShutdownHost,
} from './index.js';

export type {
  ConsumeOptions,
  DeliveryInfo,
  ErrorPolicy,
  MessageHandler,
  MessageOutcome,
} from './index.js';

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
   * `pullExpiresMs`); a message that arrives for the last pull is handed back (`nak`) for another
   * consumer.
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
    handler: MessageHandler<T, JsMsg>,
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
  const closeConnection = options.closeConnection ?? true;

  // Disconnected between a `disconnect` and a `reconnect` status.
  let down: string | undefined;
  let watching = true;
  if (connection !== undefined) {
    void (async () => {
      for await (const status of connection.status()) {
        if (!watching) break;
        if (status.type === 'disconnect') down = 'the NATS connection is lost; reconnecting';
        else if (status.type === 'reconnect') down = undefined;
      }
    })().catch(() => undefined);
  }

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
    // encode (PUB, not HPUB). Yours are added to, never overwritten.
    let headers = publishOptions.headers;
    return telemetry.send(
      name,
      (key, value) => {
        headers ??= natsHeaders();
        if (!headers.has(key)) headers.set(key, value);
      },
      body.byteLength,
      undefined,
      () =>
        js.publish(
          name,
          body,
          headers === undefined ? publishOptions : { ...publishOptions, headers },
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
    const handle = (message: JsMsg): Promise<unknown> => {
      inFlight.add();
      return telemetry
        .process(
          {
            name: message.subject,
            message,
            body: message.data,
            redelivered: message.info.deliveryCount > 1,
            header: (key) => {
              const h = message.headers;
              return h?.has(key) ? h.get(key) : undefined;
            },
            attributes: {
              'messaging.destination.subscription.name': durable,
              'messaging.nats.stream': stream,
              'messaging.nats.stream_sequence': message.info.streamSequence,
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
        .finally(() => inFlight.done());
    };

    // One pull loop: each pull (`fetch`) asks for as many messages as there are free slots, so
    // no message waits in this process unprocessed (its ack timer running), and a pull that has
    // ended leaves no request behind to which a handed-back message could be redelivered.
    let reported = false;
    const free: (() => void)[] = [];
    const slotFree = (): Promise<void> =>
      inFlight.size < concurrency ? Promise.resolve() : new Promise((r) => free.push(r));
    const pullLoop = async (): Promise<void> => {
      while (!stopping) {
        await slotFree();
        if (stopping) return;
        const handBack: JsMsg[] = [];
        try {
          const batch = await consumer.fetch({
            max_messages: concurrency - inFlight.size,
            expires,
          });
          for await (const message of batch) {
            if (stopping) handBack.push(message);
            else void handle(message).finally(() => free.shift()?.());
          }
        } catch (error) {
          if (stopping) break;
          if (!reported) {
            reported = true;
            telemetry.logger.warn(
              { err: error },
              `nats: pulling from ${stream}/${durable} failed: ${error instanceof Error ? error.message : String(error)}; retrying (said once)`,
            );
          }
          await new Promise((r) => setTimeout(r, expires).unref());
        } finally {
          // Arrived after the stop, for a pull that has now ended: back for another consumer.
          for (const message of handBack) message.nak();
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
          consumers.delete(handleOut);
        })();
        return stopped;
      },
    };
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
          let seconds = 0;
          if (waiting > 0) {
            // The oldest message not yet acknowledged is the first after the ack floor (for a
            // work-queue stream, where acked messages are gone, the stream's first message).
            let seq = info.ack_floor.stream_seq + 1;
            let stored;
            try {
              stored = await jsm.streams.getMessage(streamName, { seq });
            } catch {
              seq = Math.max(seq, (await jsm.streams.info(streamName)).state.first_seq);
              stored = await jsm.streams.getMessage(streamName, { seq });
            }
            seconds = Math.max(0, (Date.now() - stored.time.getTime()) / 1000);
          }
          return { messages: info.num_pending, ackPending: info.num_ack_pending, seconds };
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
    watching = false;
    telemetry.close();
  };

  if (health !== undefined) {
    health.onShutdownStart(() => {
      if (consumers.size === 0) return;
      const release = health.hold(
        `JetStream consumers (${[...consumers].map((c) => `${c.stream}/${c.name}`).join(', ')})`,
      );
      return stop().finally(release);
    });
    health.onShutdown(async () => {
      await close();
      if (closeConnection && connection !== undefined && !connection.isClosed()) {
        try {
          await connection.drain();
        } catch {
          // Closed already.
        }
      }
    });
  }

  return {
    registry: telemetry.registry,
    publish,
    consume,
    watchConsumer,
    async check() {
      if (connection === undefined) return;
      if (connection.isClosed()) throw new Error('the NATS connection is closed');
      if (down !== undefined) throw new Error(down);
      await connection.rtt();
    },
    stop,
    close,
  };
}
