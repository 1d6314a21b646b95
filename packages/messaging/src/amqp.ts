// RabbitMQ through amqplib: publishes under a PRODUCER span with the trace context and request id
// in the message headers, consumers that run each delivery in its CONSUMER span and settle it,
// queue depth and lag read at scrape time, a readiness check and a graceful stop.
import type { EventEmitter } from 'node:events';
import { invalidOption, optionBoolean, optionObject, optionString } from '@obskit/core/internal';
import type { Channel, ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
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

/** An amqplib connection (`amqplib.connect()`), with or without its `recovery` option. */
export interface AmqpConnectionLike extends EventEmitter {
  createChannel(): Promise<Channel>;
  close(): Promise<void>;
}

export interface AmqpOptions extends MessagingOptions {
  /**
   * The connection: its state makes `check()` (connection lost → not ready, back → ready), the
   * lag readings use a channel of their own on it, and the shutdown closes it.
   */
  connection?: AmqpConnectionLike;
  /**
   * obskit's health (`app.health`, `o.health`): at the signal the consumers are cancelled, the
   * shutdown waits for their deliveries in flight (acked or handed back), then closes the
   * connection.
   */
  health?: ShutdownHost;
  /** Close `connection` at shutdown. Default true. */
  closeConnection?: boolean;
}

export interface AmqpConsumer {
  readonly queue: string;
  readonly consumerTag: string;
  /** Deliveries being processed now. */
  readonly inFlight: number;
  /** Stops taking deliveries (`basic.cancel`) and resolves once those in flight are settled. */
  stop(): Promise<void>;
}

export interface AmqpInstrumentation {
  readonly registry: MessagingTelemetry['registry'];
  /**
   * `channel.publish` with the trace context and request id in `headers` and the publish time in
   * `timestamp`. On a plain channel it returns what amqplib returns (false: wait for `drain`); on
   * a confirm channel, a promise settled by the broker's confirm (rejected on a nack).
   */
  publish(
    channel: ConfirmChannel,
    exchange: string,
    routingKey: string,
    content: Buffer,
    options?: Options.Publish,
  ): Promise<void>;
  publish(
    channel: Channel,
    exchange: string,
    routingKey: string,
    content: Buffer,
    options?: Options.Publish,
  ): boolean;
  /** `publish` to the default exchange, addressed to `queue`. */
  sendToQueue(
    channel: ConfirmChannel,
    queue: string,
    content: Buffer,
    options?: Options.Publish,
  ): Promise<void>;
  sendToQueue(channel: Channel, queue: string, content: Buffer, options?: Options.Publish): boolean;
  /**
   * `channel.consume` (manual acks) with `handler` run per delivery: what it returns settles the
   * message (`ack` by default; `requeue`; `reject`), a throw follows `onError`.
   */
  consume<T = Buffer>(
    channel: Channel,
    queue: string,
    // The value's type comes from `parse`, not from the handler's parameter.
    handler: MessageHandler<NoInfer<T>, ConsumeMessage>,
    options?: ConsumeOptions<T> & { consume?: Options.Consume },
  ): Promise<AmqpConsumer>;
  /**
   * Lag of `queue`, read at scrape time (`checkQueue` on a channel of its own): messages ready,
   * consumers, and the age of the newest message this process was delivered while some wait.
   */
  watchQueue(queue: string): () => void;
  /** Readiness: rejects while the connection (or a consumer's channel) is down. */
  check(): Promise<void>;
  /** Stops every consumer (see `AmqpConsumer.stop`). */
  stop(): Promise<void>;
  /** `stop()`, then removes every listener and reader, closes obskit's own channel. */
  close(): Promise<void>;
}

type Publishable = (Channel | ConfirmChannel) & {
  waitForConfirms?: unknown;
  publish(
    exchange: string,
    key: string,
    content: Buffer,
    options?: Options.Publish,
    cb?: (err: unknown) => void,
  ): boolean;
};

/** The publish time an AMQP `timestamp` carries, in ms (the property is in seconds; some clients write ms). */
function timestampMs(value: unknown): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) return undefined;
  return value > 1e11 ? value : value * 1000;
}

function headerReader(message: ConsumeMessage): (key: string) => string | undefined {
  const headers = message.properties.headers as Record<string, unknown> | undefined;
  return (key) => {
    const value = headers?.[key];
    if (typeof value === 'string') return value;
    // Binary or other AMQP field types: only a short buffer is read as text.
    if (Buffer.isBuffer(value) && value.length <= 512) return value.toString('latin1');
    return undefined;
  };
}

// EventEmitter's own listener type.
type Listener = Parameters<EventEmitter['on']>[1];

/** obskit's instrumentation of one amqplib connection's producers and consumers. */
export function instrumentAmqp(options: AmqpOptions = {}): AmqpInstrumentation {
  optionObject(options, 'amqp');
  const telemetry = new MessagingTelemetry('rabbitmq', options);
  const connection = options.connection;
  if (
    connection !== undefined &&
    (typeof connection?.createChannel !== 'function' || typeof connection.on !== 'function')
  ) {
    throw invalidOption('amqp.connection', 'an amqplib connection', connection);
  }
  const health = shutdownHostOption(options.health, 'amqp.health');
  const closeConnection = optionBoolean(options.closeConnection, 'amqp.closeConnection', true);

  // Connection state, from its events (a recovering connection says `disconnect` / `connect`).
  let down: string | undefined;
  const listeners: [string, Listener][] = [];
  const listen = (event: string, fn: Listener) => {
    connection?.on(event, fn);
    listeners.push([event, fn]);
  };
  if (connection !== undefined) {
    listen('close', ((error?: Error) => {
      down = `the RabbitMQ connection closed${error ? `: ${error.message}` : ''}`;
    }) as never);
    listen('disconnect', ((error?: Error) => {
      down = `the RabbitMQ connection is lost${error ? `: ${error.message}` : ''}; reconnecting`;
    }) as never);
    listen('connect', (() => {
      down = undefined;
    }) as never);
    listen('reconnect-failed', ((error?: Error) => {
      down = `the RabbitMQ connection is lost and amqplib gave up reconnecting${error ? `: ${error.message}` : ''}`;
    }) as never);
    // An `error` is followed by `close`; listened for so that it is never an uncaught one.
    listen('error', (() => undefined) as never);
  }

  const consumers = new Set<AmqpConsumer>();
  // The channels consumers ran on, closed at shutdown before the connection: a channel close is
  // ordered after the acks written on it, so none is lost to the connection closing.
  const consumerChannels = new Set<Channel>();
  // Queues whose consumer was lost (its channel closed, or the broker cancelled it), with why:
  // not ready until `consume()` succeeds on that queue again (amqplib's recovery `setup`).
  const lost = new Map<string, string>();
  // The publish time (ms) of the newest message delivered here, per queue: the lag in seconds.
  const newestDelivered = new Map<string, number>();
  const inFlightByQueue = new Map<string, number>();

  const publish = (
    channel: Publishable,
    exchange: string,
    routingKey: string,
    content: Buffer,
    publishOptions: Options.Publish = {},
  ): boolean | Promise<void> => {
    // A copy of yours, made only when there is something to add (never over yours).
    let headers: Record<string, unknown> | undefined;
    const name = exchange === '' ? routingKey : exchange;
    const confirm = typeof channel.waitForConfirms === 'function';
    return telemetry.send(
      name,
      (key, value) => {
        const own = (headers ??= { ...publishOptions.headers });
        if (own[key] === undefined) own[key] = value;
      },
      content.length,
      routingKey === '' ? undefined : { 'messaging.rabbitmq.destination.routing_key': routingKey },
      () => {
        const withContext: Options.Publish = {
          ...publishOptions,
          ...(headers === undefined ? {} : { headers }),
          timestamp: publishOptions.timestamp ?? Math.floor(Date.now() / 1000),
        };
        if (!confirm) return channel.publish(exchange, routingKey, content, withContext);
        const confirmed = telemetry.confirmPending(name);
        return new Promise<void>((resolve, reject) => {
          try {
            channel.publish(exchange, routingKey, content, withContext, (error: unknown) => {
              confirmed();
              if (error === null || error === undefined) resolve();
              else
                reject(
                  error instanceof Error
                    ? error
                    : new Error('the broker refused the message (nack)'),
                );
            });
          } catch (error) {
            confirmed();
            reject(error);
          }
        });
      },
    );
  };

  const consume = async <T>(
    channel: Channel,
    queue: string,
    handler: MessageHandler<T, ConsumeMessage>,
    consumeOptions?: ConsumeOptions<T> & { consume?: Options.Consume },
  ): Promise<AmqpConsumer> => {
    if (typeof channel?.consume !== 'function')
      throw invalidOption('amqp.consume.channel', 'an amqplib channel', channel);
    const name = optionString(queue, 'amqp.consume.queue');
    if (name === undefined) throw invalidOption('amqp.consume.queue', 'a queue name', queue);
    if (typeof handler !== 'function')
      throw invalidOption('amqp.consume.handler', 'a function', handler);
    const resolved = resolveConsume(consumeOptions, telemetry, 'amqp.consume');
    const inFlight = new InFlight();
    let gone = false;
    // The handle, once made: what lose() drops.
    const made: { consumer?: AmqpConsumer } = {};
    // The channel closed or the broker cancelled: the broker redelivers what was unacked; once
    // the deliveries in hand are done, this consumer and its listeners are dropped.
    const lose = (reason: string) => {
      if (gone) return;
      gone = true;
      lost.set(name, reason);
      void inFlight.idle().then(() => {
        channel.off('close', onClose);
        channel.off('error', onClose);
        consumerChannels.delete(channel);
        if (made.consumer !== undefined) consumers.delete(made.consumer);
      });
    };
    const onClose = () => lose(`the channel consuming ${name} closed`);
    channel.on('close', onClose);
    channel.on('error', onClose);
    const onMessage = (message: ConsumeMessage | null) => {
      if (message === null) {
        // The broker cancelled the consumer (the queue was deleted).
        lose(`the broker cancelled the consumer of ${name}`);
        return;
      }
      const published = timestampMs(message.properties.timestamp);
      if (published !== undefined)
        newestDelivered.set(name, Math.max(newestDelivered.get(name) ?? 0, published));
      inFlight.add();
      inFlightByQueue.set(name, (inFlightByQueue.get(name) ?? 0) + 1);
      void telemetry
        .process(
          {
            name,
            message,
            body: message.content,
            redelivered: message.fields.redelivered,
            header: headerReader(message),
            attributes: {
              'messaging.rabbitmq.destination.routing_key': message.fields.routingKey,
              'messaging.rabbitmq.message.delivery_tag': message.fields.deliveryTag,
              ...(typeof message.properties.messageId === 'string'
                ? { 'messaging.message.id': message.properties.messageId }
                : {}),
            },
            settle: (outcome) => {
              if (outcome === 'ack') channel.ack(message);
              else channel.nack(message, false, outcome === 'requeue');
            },
          },
          handler,
          resolved,
        )
        .finally(() => {
          inFlightByQueue.set(name, (inFlightByQueue.get(name) ?? 1) - 1);
          inFlight.done();
        });
    };
    let consumerTag: string;
    try {
      ({ consumerTag } = await channel.consume(name, onMessage, {
        ...consumeOptions?.consume,
        noAck: false,
      }));
    } catch (error) {
      channel.off('close', onClose);
      channel.off('error', onClose);
      throw error;
    }
    telemetry.touch(name);
    lost.delete(name);
    consumerChannels.add(channel);
    let stopping: Promise<void> | undefined;
    const consumer: AmqpConsumer = {
      queue: name,
      consumerTag,
      get inFlight() {
        return inFlight.size;
      },
      stop() {
        stopping ??= (async () => {
          if (!gone) {
            try {
              await channel.cancel(consumerTag);
            } catch {
              // The channel is gone: the broker hands its unacked messages to other consumers.
            }
          }
          gone = true;
          await inFlight.idle();
          channel.off('close', onClose);
          channel.off('error', onClose);
          consumers.delete(consumer);
        })();
        return stopping;
      },
    };
    made.consumer = consumer;
    consumers.add(consumer);
    return consumer;
  };

  // Lag readings go through a channel of obskit's own: `checkQueue` on a queue that does not exist
  // closes its channel, and that must not be the app's.
  // One per watched queue: a 404 closes its channel and fails what is queued on it, which must
  // not take the other queues' readings with it.
  const lagChannels = new Map<string, Promise<Channel>>();
  const channelForLag = (queue: string): Promise<Channel> => {
    let channel = lagChannels.get(queue);
    if (channel === undefined) {
      channel = connection!.createChannel().then((created) => {
        const forget = () => {
          if (lagChannels.get(queue) === channel) lagChannels.delete(queue);
        };
        created.on('close', forget);
        created.on('error', forget);
        return created;
      });
      channel.catch(() => {
        if (lagChannels.get(queue) === channel) lagChannels.delete(queue);
      });
      lagChannels.set(queue, channel);
    }
    return channel;
  };

  const watchQueue = (queue: string): (() => void) => {
    const name = optionString(queue, 'amqp.watchQueue');
    if (name === undefined) throw invalidOption('amqp.watchQueue', 'a queue name', queue);
    if (connection === undefined) {
      throw invalidOption(
        'amqp.connection',
        'an amqplib connection (watchQueue reads through a channel of its own)',
        undefined,
      );
    }
    return telemetry.watchLag(
      {
        destination: name,
        read: async () => {
          const { messageCount, consumerCount } = await (
            await channelForLag(name)
          ).checkQueue(name);
          const inProgress = inFlightByQueue.get(name) ?? 0;
          const newest = newestDelivered.get(name);
          const seconds =
            messageCount === 0 && inProgress === 0
              ? 0
              : newest === undefined
                ? undefined
                : Math.max(0, (Date.now() - newest) / 1000);
          return {
            messages: messageCount,
            consumers: consumerCount,
            ...(seconds === undefined ? {} : { seconds }),
          };
        },
      },
      'amqp.watchQueue',
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
    telemetry.close();
    for (const [event, fn] of listeners.splice(0)) connection?.off(event, fn);
    const channels = [...lagChannels.values()];
    lagChannels.clear();
    for (const channel of channels) await closeQuietly(async () => (await channel).close());
  };

  if (health !== undefined) {
    registerShutdown(
      health,
      () =>
        consumers.size === 0
          ? undefined
          : `RabbitMQ consumers (${[...consumers].map((c) => c.queue).join(', ')})`,
      stop,
      async () => {
        await close();
        // Also while disconnected: only close() stops a recovering connection's reconnects.
        if (!closeConnection || connection === undefined) return;
        for (const channel of consumerChannels) await closeQuietly(() => channel.close());
        consumerChannels.clear();
        await closeQuietly(() => connection.close());
      },
    );
  }

  return {
    registry: telemetry.registry,
    publish: publish as AmqpInstrumentation['publish'],
    sendToQueue: ((channel: Publishable, queue: string, content: Buffer, o?: Options.Publish) =>
      publish(channel, '', queue, content, o)) as AmqpInstrumentation['sendToQueue'],
    consume,
    watchQueue,
    async check() {
      if (down !== undefined) throw new Error(down);
      for (const reason of lost.values()) throw new Error(reason);
    },
    stop,
    close,
  };
}
