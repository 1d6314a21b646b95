// What the messaging tests share.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect as tcpConnect, type Socket } from 'node:net';
import amqplib from 'amqplib';
import { AckPolicy, connect } from 'nats';

/**
 * A TCP proxy on 127.0.0.1 to a broker's port that a test can cut (every connection through it
 * closed, new ones refused) and restore.
 */
export async function cuttableProxy(target: number): Promise<{
  port: number;
  cut(): void;
  restore(): void;
  close(): void;
}> {
  const sockets = new Set<Socket>();
  let open = true;
  const proxy = createServer((client) => {
    if (!open) return client.destroy();
    const upstream = tcpConnect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  return {
    port: (proxy.address() as { port: number }).port,
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
    },
    restore() {
      open = true;
    },
    close() {
      for (const s of sockets) s.destroy();
      proxy.close();
    },
  };
}

/** The sum of the series of `name` in the text format whose labels include `labels`. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m?.[1] !== name) continue;
    const found = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/** A RabbitMQ queue of its own on 127.0.0.1:5672, on a connection and confirm channel of its own. */
export async function freshQueue(prefix: string) {
  const connection = await amqplib.connect('amqp://guest:guest@127.0.0.1:5672');
  const channel = await connection.createConfirmChannel();
  const name = `obskit-${prefix}-${randomUUID()}`;
  await channel.assertQueue(name, { durable: false });
  return {
    name,
    connection,
    channel,
    async cleanup() {
      await channel.deleteQueue(name);
      await connection.close();
    },
  };
}

/**
 * A JetStream stream of its own on 127.0.0.1:4222 (`<PREFIX>_<id>` on `<prefix><id>.>`) with the
 * durable consumer `workers`.
 */
export async function freshStream(prefix: string) {
  const nc = await connect({ servers: '127.0.0.1:4222' });
  const jsm = await nc.jetstreamManager();
  const id = randomUUID().slice(0, 8);
  const name = `${prefix.toUpperCase()}_${id}`;
  const subject = `${prefix}${id}`;
  await jsm.streams.add({ name, subjects: [`${subject}.>`] });
  await jsm.consumers.add(name, { durable_name: 'workers', ack_policy: AckPolicy.Explicit });
  return {
    name,
    subject,
    nc,
    jsm,
    js: nc.jetstream(),
    async cleanup() {
      await jsm.streams.delete(name);
      await nc.close();
    },
  };
}
