// What obskit costs per message on a real broker: one process publishes N messages and consumes
// them back (acked), with the bare client, with obskit (with and without a tracing SDK) and, on
// RabbitMQ, with @opentelemetry/instrumentation-amqplib; the process's CPU time per message.
//
//   node bench/messaging.mjs [--rounds 5] [--messages 20000] [--only amqp|nats]
//
// Each measurement runs in a fresh process; configurations are interleaved over rounds (each
// round starting one further on). The table: median CPU µs per message (user + system), µs added
// to the bare client's in the same round (median), the ratio, and the user time alone: on
// loopback the system time of a socket write grows when the broker has gone idle and must be
// woken, so a slower process pays more kernel time per message than its own code costs.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : args[i + 1];
};

const CONFIGS = {
  // obskit-publish / obskit-consume: obskit (untraced) on one side only, the other side bare.
  amqp: ['bare', 'obskit-publish', 'obskit-consume', 'obskit-untraced', 'obskit', 'otel'],
  nats: ['bare', 'obskit-untraced', 'obskit'],
};

if (args[0] === '--run') {
  const [, broker, config, n] = args;
  console.log(JSON.stringify(await measure(broker, config, Number(n))));
  process.exit(0);
}

const rounds = Number(flag('rounds', 5));
const messages = Number(flag('messages', 20000));
const only = flag('only', undefined);
const self = fileURLToPath(import.meta.url);
const results = {};
for (const [broker, configs] of Object.entries(CONFIGS)) {
  if (only !== undefined && only !== broker) continue;
  results[broker] = Object.fromEntries(configs.map((c) => [c, []]));
  for (let round = 0; round < rounds; round++) {
    const order = configs.map((_, i) => configs[(i + round) % configs.length]);
    for (const config of order) {
      const run = spawnSync(process.execPath, [self, '--run', broker, config, String(messages)], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      if (run.status !== 0) throw new Error(`${broker} ${config} failed:\n${run.stderr}`);
      results[broker][config].push(JSON.parse(run.stdout.trim().split('\n').at(-1)));
    }
  }
}

const signed = (config, n) => (config === 'bare' ? '' : `${n >= 0 ? '+' : ''}${n.toFixed(1)}`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log(`\n${messages} messages per measurement, ${rounds} rounds, Node ${process.version}\n`);
console.log(
  '| broker | configuration | CPU µs/message | added µs | ratio to bare | user µs/message | added user µs | messages/s |',
);
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const [broker, byConfig] of Object.entries(results)) {
  const bare = byConfig.bare;
  for (const [config, runs] of Object.entries(byConfig)) {
    const us = median(runs.map((r) => r.cpuUsPerMessage));
    const added = median(runs.map((r, i) => r.cpuUsPerMessage - bare[i].cpuUsPerMessage));
    const ratio = median(runs.map((r, i) => r.cpuUsPerMessage / bare[i].cpuUsPerMessage));
    const rate = median(runs.map((r) => r.messagesPerSecond));
    const user = median(runs.map((r) => r.userUsPerMessage));
    const addedUser = median(runs.map((r, i) => r.userUsPerMessage - bare[i].userUsPerMessage));
    console.log(
      `| ${broker} | ${config} | ${us.toFixed(1)} | ${signed(config, added)} | ${ratio.toFixed(3)} | ${user.toFixed(1)} | ${signed(config, addedUser)} | ${Math.round(rate)} |`,
    );
  }
}

/** One measurement: warm up, then publish and consume `n` messages, CPU of this process. */
async function measure(broker, config, n) {
  const require = createRequire(import.meta.url);
  const { droppingExporter } = await import('./servers/_otel.mjs');
  if (config === 'obskit') {
    const { startTracing } = await import('@obskit/tracing');
    startTracing({ serviceName: 'bench', exporter: droppingExporter, outgoing: false });
  } else if (config === 'otel') {
    const { registerInstrumentations } = require('@opentelemetry/instrumentation');
    const { AmqplibInstrumentation } = require('@opentelemetry/instrumentation-amqplib');
    const { BatchSpanProcessor, NodeTracerProvider } = require('@opentelemetry/sdk-trace-node');
    const provider = new NodeTracerProvider({
      spanProcessors: [new BatchSpanProcessor(droppingExporter)],
    });
    provider.register();
    registerInstrumentations({ instrumentations: [new AmqplibInstrumentation()] });
  }
  const instrumented = config.startsWith('obskit');
  const side =
    config === 'obskit-publish' ? 'publish' : config === 'obskit-consume' ? 'consume' : 'both';
  const run = broker === 'amqp' ? amqpRun : natsRun;
  const session = await run(require, instrumented, side);
  await session.round(2000); // warm-up
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await session.round(n);
  const used = process.cpuUsage(cpu);
  const seconds = (performance.now() - t0) / 1000;
  await session.close();
  return {
    broker,
    config,
    messages: n,
    cpuUsPerMessage: (used.user + used.system) / n,
    userUsPerMessage: used.user / n,
    messagesPerSecond: n / seconds,
  };
}

async function amqpRun(require, instrumented, side) {
  const amqplib = require('amqplib');
  const { Registry } = require('prom-client');
  const connection = await amqplib.connect('amqp://guest:guest@127.0.0.1:5672');
  const producer = await connection.createChannel();
  const consumer = await connection.createChannel();
  await consumer.prefetch(100);
  const queue = `obskit-bench-${randomUUID()}`;
  await producer.assertQueue(queue, { durable: false, autoDelete: true });
  const amqp = instrumented
    ? (await import('@obskit/messaging/amqp')).instrumentAmqp({ registry: new Registry() })
    : undefined;
  let received = 0;
  let wake = () => {};
  const onMessage = () => {
    if (++received >= target) wake();
  };
  let target = 0;
  if (amqp && side !== 'publish') await amqp.consume(consumer, queue, onMessage);
  else
    await consumer.consume(queue, (m) => {
      consumer.ack(m);
      onMessage();
    });
  const body = Buffer.from(JSON.stringify({ id: 1, item: 'book', quantity: 2 }));
  return {
    async round(n) {
      received = 0;
      target = n;
      const done = new Promise((r) => (wake = r));
      for (let i = 0; i < n; i++) {
        const ok =
          amqp && side !== 'consume'
            ? amqp.sendToQueue(producer, queue, body)
            : producer.sendToQueue(queue, body);
        if (!ok) await new Promise((r) => producer.once('drain', r));
      }
      await done;
    },
    async close() {
      await connection.close();
    },
  };
}

async function natsRun(require, instrumented) {
  const { connect, AckPolicy } = require('nats');
  const { Registry } = require('prom-client');
  const nc = await connect({ servers: '127.0.0.1:4222' });
  const js = nc.jetstream();
  const jsm = await nc.jetstreamManager();
  const id = randomUUID().slice(0, 8);
  const stream = `BENCH_${id}`;
  await jsm.streams.add({ name: stream, subjects: [`bench${id}.>`] });
  await jsm.consumers.add(stream, { durable_name: 'workers', ack_policy: AckPolicy.Explicit });
  const consumer = await js.consumers.get(stream, 'workers');
  const nats = instrumented
    ? (await import('@obskit/messaging/nats')).instrumentJetStream({ registry: new Registry() })
    : undefined;
  const concurrency = 64;
  let received = 0;
  let target = 0;
  let wake = () => {};
  const onMessage = () => {
    if (++received >= target) wake();
  };
  let stop;
  if (nats) {
    const running = await nats.consume(consumer, onMessage, { concurrency });
    stop = () => running.stop();
  } else {
    // The same pull pattern without obskit: one fetch of as many messages as there are free slots.
    let stopping = false;
    let inFlight = 0;
    const loop = (async () => {
      while (!stopping) {
        const batch = await consumer.fetch({ max_messages: concurrency - inFlight, expires: 1000 });
        for await (const m of batch) {
          m.ack();
          onMessage();
        }
      }
    })();
    stop = async () => {
      stopping = true;
      await loop;
    };
  }
  const subject = `bench${id}.orders`;
  const body = JSON.stringify({ id: 1, item: 'book', quantity: 2 });
  return {
    async round(n) {
      received = 0;
      target = n;
      const done = new Promise((r) => (wake = r));
      // Up to 100 publishes awaiting their PubAck at once.
      let sent = 0;
      const publisher = async () => {
        while (sent < n) {
          sent++;
          await (nats ? nats.publish(js, subject, body) : js.publish(subject, body));
        }
      };
      await Promise.all(Array.from({ length: 100 }, publisher));
      await done;
    },
    async close() {
      await stop();
      await jsm.streams.delete(stream);
      await nc.close();
    },
  };
}
