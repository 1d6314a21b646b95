// SIGTERM on a real consumer process with obskit's health (test/fixtures/shutdown-consumer.mjs),
// on both brokers: the consumer stops at the signal, the message in hand is finished and acked,
// the hooks run, the process exits 0; the rest stay on the broker for others, none unacked.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@obskit/test-support';
import { describe, expect, it } from 'vitest';
import { freshQueue, freshStream } from './support.js';

const fixture = fileURLToPath(new URL('./fixtures/shutdown-consumer.mjs', import.meta.url));

interface Broker {
  setup(): Promise<{
    name: string;
    publish(bodies: string[]): Promise<void>;
    /** Messages waiting and messages delivered but unacknowledged, once the consumer is gone. */
    left(): Promise<{ waiting: number; unacked: number }>;
    cleanup(): Promise<void>;
  }>;
}

const brokers: Record<string, Broker> = {
  amqp: {
    async setup() {
      const { name, channel, cleanup } = await freshQueue('shutdown');
      return {
        name,
        cleanup,
        async publish(bodies) {
          for (const body of bodies) channel.sendToQueue(name, Buffer.from(body));
          await channel.checkQueue(name);
        },
        async left() {
          // With no consumer left, an unacked message would be back in the ready count.
          const { messageCount, consumerCount } = await channel.checkQueue(name);
          expect(consumerCount).toBe(0);
          return { waiting: messageCount, unacked: 0 };
        },
      };
    },
  },
  nats: {
    async setup() {
      const { name, subject, jsm, js, cleanup } = await freshStream('shutdown');
      return {
        name,
        cleanup,
        async publish(bodies) {
          for (const body of bodies) await js.publish(`${subject}.x`, body);
        },
        async left() {
          const info = await jsm.consumers.info(name, 'workers');
          return {
            waiting: info.num_pending + info.num_redelivered,
            unacked: info.num_ack_pending,
          };
        },
      };
    },
  },
};

describe.each(Object.keys(brokers))('SIGTERM on a %s consumer service', (system) => {
  it('finishes and acks the message in hand, takes no other, runs the hooks, exits 0', async () => {
    const broker = await brokers[system]!.setup();
    const child = spawn(process.execPath, [fixture, system, broker.name], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const exited = once(child, 'exit');
    try {
      await waitFor(() => out.includes('READY'), 15_000, `the consumer:\n${err}`);
      await broker.publish(['m0', 'm1', 'm2', 'm3', 'm4']);
      await waitFor(() => out.includes('START m0'), 10_000, `the first message:\n${out}`);
      child.kill('SIGTERM');
      const [code] = await exited;
      expect(code, `${out}\n${err}`).toBe(0);
      // The one in hand was finished before the hooks; no other was started.
      expect(out.indexOf('DONE m0')).toBeGreaterThan(-1);
      expect(out.indexOf('DONE m0')).toBeLessThan(out.indexOf('HOOKS'));
      expect(out.match(/^START /gm)).toHaveLength(1);
      await waitFor(async () => (await broker.left()).unacked === 0, 5000);
      expect(await broker.left()).toEqual({ waiting: 4, unacked: 0 });
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await broker.cleanup();
    }
  }, 30_000);
});
