// obskit's own CPU per message, without a broker: the send wrapper around a send that does
// nothing, and the processing of a delivery whose settle does nothing, N times each.
//
//   node bench/messaging-own.mjs [untraced|traced] [messages]
//
// `traced` starts obskit's tracing (an SDK whose spans are dropped); prints one JSON line.
import { MessagingTelemetry } from '@obskit/messaging';
import { Registry } from 'prom-client';

const [mode = 'untraced', n = '200000'] = process.argv.slice(2);
if (mode === 'traced') {
  const { startTracing } = await import('@obskit/tracing');
  const { droppingExporter } = await import('./servers/_otel.mjs');
  startTracing({ serviceName: 'bench', exporter: droppingExporter, outgoing: false });
}
const telemetry = new MessagingTelemetry('rabbitmq', { registry: new Registry() });
const body = Buffer.from('{"id":1}');
const options = { parse: undefined, onError: 'retry-once', onParseError: 'reject' };
const handler = () => undefined;
let carried = {};

async function run(count) {
  let t0 = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    const headers = {};
    telemetry.send(
      'orders',
      (k, v) => (headers[k] = v),
      body.length,
      undefined,
      () => true,
    );
    carried = headers;
  }
  const send = process.cpuUsage(t0);
  t0 = process.cpuUsage();
  for (let i = 0; i < count; i++) {
    await telemetry.process(
      {
        name: 'orders',
        message: undefined,
        body,
        redelivered: false,
        header: (k) => carried[k],
        attributes: {},
        settle: () => undefined,
      },
      handler,
      options,
    );
  }
  const processed = process.cpuUsage(t0);
  return {
    sendUs: (send.user + send.system) / count,
    processUs: (processed.user + processed.system) / count,
  };
}

await run(20_000); // warm-up
const r = await run(Number(n));
console.log(
  JSON.stringify({
    mode,
    messages: Number(n),
    sendUs: +r.sendUs.toFixed(2),
    processUs: +r.processUs.toFixed(2),
  }),
);
