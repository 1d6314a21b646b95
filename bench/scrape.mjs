// What a /metrics scrape costs as the number of series grows: obskit's HTTP metrics against
// prom-client's own Counter and Histogram holding the same series, each in a fresh process per
// measurement, interleaved over rounds. Per configuration: the render time (median of the
// scrapes), the longest stretch the event loop was blocked during a scrape, and the heap per
// series. With --bullmq, also the scrape of a BullMQ queue holding 10,000 waiting jobs (needs
// Redis on 127.0.0.1:6379; the queue is made and removed by the run).
//
//   node bench/scrape.mjs                         1k, 12k and 50k series, 3 rounds
//   node bench/scrape.mjs --series 12000 --rounds 5
//   node bench/scrape.mjs --bullmq                the queue scrape too
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setImmediate } from 'node:timers';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    series: { type: 'string', default: '1000,12000,50000' },
    rounds: { type: 'string', default: '3' },
    scrapes: { type: 'string', default: '15' },
    bullmq: { type: 'boolean', default: false },
    jobs: { type: 'string', default: '10000' },
    out: { type: 'string' },
    child: { type: 'string' },
    labelsets: { type: 'string' },
  },
});

// Lines per label set: the counter, and the histogram's 11 buckets, +Inf, _sum and _count.
const LINES_PER_LABELSET = 15;
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const labelsOf = (i) => ({
  method: 'GET',
  route: `/r/${Math.floor(i / 3)}/:id`,
  status_code: String([200, 404, 500][i % 3]),
});

/** The longest gap between turns of the event loop while `fn` runs, in ms. */
async function longestBlock(fn) {
  let last = performance.now();
  let longest = 0;
  let running = true;
  const tick = () => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  const result = await fn();
  running = false;
  const now = performance.now();
  longest = Math.max(longest, now - last);
  return { result, longest };
}

async function scrapeStats(render, scrapes) {
  const times = [];
  const blocks = [];
  let text = '';
  for (let i = 0; i < scrapes; i++) {
    const start = performance.now();
    const { result, longest } = await longestBlock(render);
    times.push(performance.now() - start);
    blocks.push(longest);
    text = result;
    await new Promise((r) => setTimeout(r, 5));
  }
  return { times, blocks, text };
}

// --- one measurement (child process) ----------------------------------------------------------

async function child(impl, labelsets, scrapes) {
  const { Registry } = await import('prom-client');
  const { createServer, Agent } = await import('node:http');
  const gc = globalThis.gc;
  const registry = new Registry();
  // Both are filled the way a service fills them, by real requests on 127.0.0.1, so that the heap
  // figures carry the same HTTP overhead.
  let record;
  let render;
  if (impl === 'obskit') {
    const { createHttpMetrics, renderMetrics } = await import('@obskit/metrics');
    const metrics = createHttpMetrics({ registry, defaultMetrics: false, endpoint: false });
    record = (req, res, labels) => metrics.track(req, res, () => labels.route);
    // What obskit's /metrics endpoint answers.
    render = () => renderMetrics(registry, false);
  } else {
    const { Counter, Histogram } = await import('prom-client');
    const labelNames = ['method', 'route', 'status_code'];
    const total = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests completed, by method, route and status code.',
      labelNames,
      registers: [registry],
    });
    const duration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration in seconds, by method, route and status code.',
      labelNames,
      buckets: BUCKETS,
      registers: [registry],
    });
    record = (req, res, labels) => {
      const start = performance.now();
      res.once('finish', () => {
        total.inc(labels);
        duration.observe(labels, (performance.now() - start) / 1000);
      });
    };
    render = () => registry.metrics();
  }
  const server = createServer((req, res) => {
    const labels = labelsOf(Number(req.url.slice(1)));
    record(req, res, labels);
    res.statusCode = Number(labels.status_code);
    res.end();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  const get = (i) =>
    new Promise((resolve, reject) => {
      request({ port, host: '127.0.0.1', path: `/${i}`, agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      })
        .on('error', reject)
        .end();
    });
  await get(0); // the server's own first-request allocations, outside the measurement
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let i = 1; i < labelsets; i += 64) {
    await Promise.all(Array.from({ length: Math.min(64, labelsets - i) }, (_, k) => get(i + k)));
  }
  agent.destroy();
  await new Promise((r) => setTimeout(r, 50));
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  const { times, blocks, text } = await scrapeStats(render, scrapes);
  const series = text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
  server.close();
  return {
    impl,
    labelsets,
    series,
    bytes: Buffer.byteLength(text),
    renderMs: median(times),
    maxBlockMs: Math.max(...blocks),
    medianBlockMs: median(blocks),
    heapBytesPerSeries: (after - before) / series,
  };
}

async function bullmqChild(jobs, scrapes) {
  const { Queue } = await import('bullmq');
  const { Redis } = await import('ioredis');
  const { Registry } = await import('prom-client');
  const { bullmqQueueMetrics } = await import('@obskit/bullmq');
  const connection = new Redis({ host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null });
  const name = `bench-scrape-${process.pid}`;
  const queue = new Queue(name, { connection });
  try {
    const registry = new Registry();
    bullmqQueueMetrics(queue, { registry });
    const result = {};
    for (const n of [0, jobs]) {
      for (let i = await queue.getWaitingCount(); i < n; i += 1000) {
        await queue.addBulk(
          Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({
            name: 'job',
            data: { n: i + k },
          })),
        );
      }
      const { times, blocks, text } = await scrapeStats(() => registry.metrics(), scrapes);
      if (!text.includes(`job_queue_jobs{queue="${name}",state="waiting"} ${n}`))
        throw new Error(`the scrape did not show ${n} waiting jobs:\n${text}`);
      result[n] = { renderMs: median(times), maxBlockMs: Math.max(...blocks) };
    }
    return { jobs, empty: result[0], full: result[jobs] };
  } finally {
    await queue.obliterate({ force: true });
    await queue.close();
    connection.disconnect();
  }
}

if (values.child) {
  const scrapes = Number(values.scrapes);
  const out =
    values.child === 'bullmq'
      ? await bullmqChild(Number(values.jobs), scrapes)
      : await child(values.child, Number(values.labelsets), scrapes);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}

// --- the run (parent) -------------------------------------------------------------------------

async function run(args) {
  const proc = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), ...args], {
    cwd: here,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  proc.stdout.on('data', (c) => (output += c));
  const [code] = await once(proc, 'exit');
  if (code !== 0) throw new Error(`scrape child ${args.join(' ')} exited with ${code}`);
  return JSON.parse(output.trim().split('\n').pop());
}

const targets = values.series.split(',').map(Number);
const rounds = Number(values.rounds);
const impls = ['obskit', 'prom-client'];
const results = [];
console.log(
  `obskit scrape bench: ${targets.join(', ')} series × ${impls.join(', ')}, ${rounds} rounds, ${values.scrapes} scrapes each, Node ${process.version}`,
);
for (let round = 1; round <= rounds; round++) {
  for (const target of targets) {
    const order = round % 2 ? impls : [...impls].reverse();
    for (const impl of order) {
      const labelsets = Math.ceil(target / LINES_PER_LABELSET);
      const r = await run([
        '--child',
        impl,
        '--labelsets',
        String(labelsets),
        '--scrapes',
        values.scrapes,
      ]);
      results.push({ round, target, ...r });
      console.log(
        `round ${round}  ${impl.padEnd(12)} ${String(r.series).padStart(6)} series  render ${r.renderMs.toFixed(2)} ms  longest block ${r.maxBlockMs.toFixed(2)} ms  heap ${r.heapBytesPerSeries.toFixed(0)} B/series`,
      );
    }
  }
}

const summary = [];
for (const target of targets) {
  for (const impl of impls) {
    const mine = results.filter((r) => r.target === target && r.impl === impl);
    summary.push({
      target,
      impl,
      series: mine[0].series,
      renderMs: median(mine.map((r) => r.renderMs)),
      maxBlockMs: median(mine.map((r) => r.maxBlockMs)),
      heapBytesPerSeries: median(mine.map((r) => r.heapBytesPerSeries)),
    });
  }
}
console.log(
  '\n| series | obskit render (ms) | prom-client render (ms) | prom-client ÷ obskit | obskit longest block (ms) | prom-client longest block (ms) | obskit heap B/series | prom-client heap B/series |',
);
console.log('|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const target of targets) {
  const o = summary.find((s) => s.target === target && s.impl === 'obskit');
  const p = summary.find((s) => s.target === target && s.impl === 'prom-client');
  // The ratio per round, then its median: both ran in the same round, one after the other.
  const ratios = results
    .filter((r) => r.target === target && r.impl === 'obskit')
    .map(
      (r) =>
        results.find((x) => x.round === r.round && x.target === target && x.impl === 'prom-client')
          .renderMs / r.renderMs,
    );
  const ratio = median(ratios);
  o.promClientOverObskit = ratio;
  console.log(
    `| ${o.series} | ${o.renderMs.toFixed(2)} | ${p.renderMs.toFixed(2)} | ${ratio.toFixed(2)}× | ${o.maxBlockMs.toFixed(2)} | ${p.maxBlockMs.toFixed(2)} | ${o.heapBytesPerSeries.toFixed(0)} | ${p.heapBytesPerSeries.toFixed(0)} |`,
  );
}

let bullmq;
if (values.bullmq) {
  bullmq = await run(['--child', 'bullmq', '--jobs', values.jobs, '--scrapes', values.scrapes]);
  console.log(
    `\nBullMQ queue scrape: empty ${bullmq.empty.renderMs.toFixed(2)} ms, ${bullmq.jobs} waiting jobs ${bullmq.full.renderMs.toFixed(2)} ms (longest block ${bullmq.full.maxBlockMs.toFixed(2)} ms)`,
  );
}

const out =
  values.out ??
  join(here, 'results', `scrape-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  `${JSON.stringify({ kind: 'scrape', node: process.version, date: new Date().toISOString(), rounds, summary, results, bullmq }, null, 2)}\n`,
);
console.log(`\nraw results: ${out}`);
