// Per-query CPU of a PostgreSQL query (`SELECT $1::int`, 127.0.0.1:5432) inside a traced request
// context, with obskit's query spans on or off: node bench/pg-cost.mjs <traced|untraced> [queries]
// Prints one JSON line: CPU µs per query of this process (the server runs in another).
import { droppingExporter } from './servers/_otel.mjs';

const [mode = 'traced', n = '20000'] = process.argv.slice(2);
const { startTracing, withSpan } = await import('@obskit/tracing');
startTracing({
  exporter: droppingExporter,
  serviceName: 'bench',
  outgoing: false,
  pg: mode === 'traced' ? true : mode === 'raw' ? { rawQueryText: true } : false,
});
const { default: pg } = await import('pg');
const pool = new pg.Pool({
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  database: process.env.PGDATABASE ?? 'test',
  max: 10,
});
const queries = Number(n);
const concurrency = 10;
async function worker(count) {
  for (let i = 0; i < count; i++) {
    await withSpan('GET /x', {}, () => pool.query('SELECT $1::int AS n', [i]));
  }
}
await Promise.all(Array.from({ length: concurrency }, () => worker(300))); // warm-up
const start = process.cpuUsage();
const t0 = performance.now();
await Promise.all(Array.from({ length: concurrency }, () => worker(queries / concurrency)));
const cpu = process.cpuUsage(start);
const seconds = (performance.now() - t0) / 1000;
await pool.end();
console.log(
  JSON.stringify({
    mode,
    queries,
    cpuUsPerQuery: +((cpu.user + cpu.system) / queries).toFixed(2),
    queriesPerSecond: Math.round(queries / seconds),
  }),
);
