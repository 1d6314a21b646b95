// Charts for docs/benchmarks.md, drawn as SVG from the JSON the benchmarks write: nothing is
// typed in by hand. Each input is optional; a chart is drawn for each one given.
//
//   node bench/report.mjs --run all.json --scrape scrape.json --routes routes.json \
//     --connections connections.json --logs logs.json --export export.json --out docs/benchmarks
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    run: { type: 'string' },
    scrape: { type: 'string' },
    routes: { type: 'string' },
    connections: { type: 'string' },
    logs: { type: 'string' },
    export: { type: 'string' },
    out: { type: 'string', default: 'docs/benchmarks' },
    // Also print the figures as markdown tables, for docs/benchmarks.md.
    tables: { type: 'boolean', default: false },
  },
});
const tables = [];
const table = (title, header, rows) => {
  tables.push(
    `### ${title}\n\n| ${header.join(' | ')} |\n|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}\n`,
  );
};
const f1 = (x) => (x === null || x === undefined ? 'n/a' : x.toFixed(1));
const f2 = (x) => (x === null || x === undefined ? 'n/a' : x.toFixed(2));
const read = (file) => JSON.parse(readFileSync(file, 'utf8'));
/** One row per configuration and setting (`routes`, `lines`): req/s, ratio and µs added to bare. */
const settingTable = (title, setting, data) =>
  table(
    title,
    ['configuration', setting, 'req/s', 'ratio to bare', '+µs vs bare'],
    data.summary.map((x) => [
      x.name,
      x[setting],
      Math.round(x.medianReqPerSec),
      f2(x.medianRatioToBare),
      f1(x.medianAddedCpuUs),
    ]),
  );
mkdirSync(values.out, { recursive: true });

const COLORS = ['#2b6cb0', '#dd6b20', '#38a169', '#805ad5', '#d53f8c', '#718096'];
const esc = (s) =>
  String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
const fmt = (n) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const text = (x, y, s, attrs = '') =>
  `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${esc(s)}</text>`;

function svg(width, height, body, title) {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">
<title>${esc(title)}</title>
<rect width="100%" height="100%" fill="#ffffff"/>
${text(12, 22, title, 'font-size="15" font-weight="600" fill="#1a202c"')}
${body}
</svg>
`;
}

/**
 * Horizontal bars, in groups: `groups: [{ label, bars: [{ label, value, note? }] }]`, one scale
 * for all; `marker` draws a dashed line at that value (1.0 for ratios).
 */
function barChart({ title, groups, unit, marker, legend }) {
  const labelWidth = 250;
  const width = 760;
  const plot = width - labelWidth - 90;
  const max = Math.max(...groups.flatMap((g) => g.bars.map((b) => b.value)), marker ?? 0) * 1.05;
  let y = 44;
  let body = '';
  for (const group of groups) {
    body += text(12, y + 12, group.label, 'font-weight="600" fill="#2d3748"');
    y += 20;
    for (const [i, bar] of group.bars.entries()) {
      const w = Math.max(1, (bar.value / max) * plot);
      const color = bar.color ?? COLORS[i % COLORS.length];
      body += text(labelWidth - 8, y + 12, bar.label, 'text-anchor="end" fill="#2d3748"');
      body += `<rect x="${labelWidth}" y="${y + 2}" width="${w.toFixed(1)}" height="14" fill="${color}" rx="2"/>`;
      body += text(
        labelWidth + w + 6,
        y + 13,
        `${fmt(bar.value)}${unit}${bar.note ? `  ${bar.note}` : ''}`,
        'fill="#4a5568"',
      );
      y += 20;
    }
    y += 8;
  }
  if (marker !== undefined) {
    const x = labelWidth + (marker / max) * plot;
    body += `<line x1="${x.toFixed(1)}" y1="40" x2="${x.toFixed(1)}" y2="${y - 4}" stroke="#a0aec0" stroke-dasharray="4 3"/>`;
    body += text(x + 3, y + 8, `${fmt(marker)}${unit}`, 'fill="#718096" font-size="11"');
  }
  if (legend) {
    body += text(12, y + 24, legend, 'fill="#718096" font-size="11"');
    y += 16;
  }
  return svg(width, y + 24, body, title);
}

/** Lines over x: `series: [{ label, points: [[x, y]] }]`, x on a log scale when `logX`. */
function lineChart({ title, series, xLabel, yLabel, logX, yMarker, yMarkerLabel }) {
  const width = 760;
  const height = 380;
  const left = 70;
  const right = 170;
  const top = 44;
  const bottom = 50;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const fx = logX ? Math.log10 : (v) => v;
  const [x0, x1] = [fx(Math.min(...xs)), fx(Math.max(...xs))];
  const yMax = Math.max(...ys, yMarker ?? 0) * 1.1;
  const px = (v) => left + ((fx(v) - x0) / (x1 - x0 || 1)) * (width - left - right);
  const py = (v) => height - bottom - (v / yMax) * (height - top - bottom);
  let body = `<line x1="${left}" y1="${height - bottom}" x2="${width - right}" y2="${height - bottom}" stroke="#cbd5e0"/>`;
  body += `<line x1="${left}" y1="${top}" x2="${left}" y2="${height - bottom}" stroke="#cbd5e0"/>`;
  for (let i = 0; i <= 4; i++) {
    const v = (yMax / 4) * i;
    body += `<line x1="${left}" y1="${py(v).toFixed(1)}" x2="${width - right}" y2="${py(v).toFixed(1)}" stroke="#edf2f7"/>`;
    body += text(left - 6, py(v) + 4, fmt(v), 'text-anchor="end" fill="#718096" font-size="11"');
  }
  for (const x of [...new Set(xs)]) {
    body += text(
      px(x),
      height - bottom + 16,
      x >= 1000 ? `${x / 1000}k` : String(x),
      'text-anchor="middle" fill="#718096" font-size="11"',
    );
  }
  body += text(
    (left + width - right) / 2,
    height - 12,
    xLabel,
    'text-anchor="middle" fill="#4a5568"',
  );
  body += text(16, top - 8, yLabel, 'fill="#4a5568"');
  if (yMarker !== undefined) {
    body += `<line x1="${left}" y1="${py(yMarker).toFixed(1)}" x2="${width - right}" y2="${py(yMarker).toFixed(1)}" stroke="#e53e3e" stroke-dasharray="5 4"/>`;
    body += text(
      width - right + 6,
      py(yMarker) + 4,
      yMarkerLabel ?? '',
      'fill="#e53e3e" font-size="11"',
    );
  }
  // End labels, moved apart where two lines end close together.
  const labels = [];
  for (const [i, s] of series.entries()) {
    const color = s.color ?? COLORS[i % COLORS.length];
    const pts = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    body += `<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`;
    for (const [x, y] of s.points) {
      body += `<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${color}"/>`;
    }
    labels.push({ y: py(s.points[s.points.length - 1][1]) + 4, label: s.label, color });
  }
  labels.sort((a, b) => a.y - b.y);
  for (let i = 1; i < labels.length; i++) labels[i].y = Math.max(labels[i].y, labels[i - 1].y + 14);
  for (const l of labels) body += text(width - right + 8, l.y, l.label, `fill="${l.color}"`);
  return svg(width, height, body, title);
}

const written = [];
const write = (name, content) => {
  writeFileSync(join(values.out, name), content);
  written.push(join(values.out, name));
};
const byId = (data) => new Map(data.summary.map((s) => [s.id ?? s.name, s]));

// 1. Each feature's cost as a ratio to bare req/s, per framework.
if (values.run) {
  const data = read(values.run);
  const s = byId(data);
  const configs = [
    ['request-id', 'obskit request ids'],
    ['tracing', 'obskit tracing'],
    ['metrics', 'obskit metrics'],
    ['obskit-full', 'obskit, everything on'],
    ['peer-fastify-metrics', 'fastify-metrics'],
    ['peer-prom-bundle', 'express-prom-bundle'],
    ['peer-otel', 'OpenTelemetry SDK'],
    ['peer-stack', 'the assembled stack'],
  ];
  const groups = ['fastify', 'express'].map((fw) => ({
    label: `${fw[0].toUpperCase()}${fw.slice(1)} (bare ${Math.round(s.get(`${fw}-bare`).medianReqPerSec)} req/s)`,
    bars: configs
      .filter(([c]) => s.has(`${fw}-${c}`))
      .map(([c, label]) => {
        const x = s.get(`${fw}-${c}`);
        return {
          label,
          value: x.medianRatioToBare,
          note: `+${fmt(x.medianAddedCpuUs)} µs`,
          color: c.startsWith('peer') ? '#a0aec0' : c === 'obskit-full' ? '#2b6cb0' : '#63b3ed',
        };
      }),
  }));
  table(
    `Every configuration (${data.node}, ${data.rounds} rounds × ${data.duration} s)`,
    ['configuration', 'req/s', 'p99 ms', 'ratio to bare', 'CPU µs/req', '+µs vs bare'],
    data.summary.map((x) => [
      x.id ?? x.name,
      Math.round(x.medianReqPerSec),
      x.medianP99Ms,
      f2(x.medianRatioToBare),
      f1(x.medianCpuUsPerReq),
      f1(x.medianAddedCpuUs),
    ]),
  );
  table(
    `A ÷ B in the same round (${data.node})`,
    ['A ÷ B', 'req/s factor', 'per round', 'CPU factor'],
    (data.comparisons ?? []).map((c) => [
      `${c.a} ÷ ${c.b}`,
      `${f2(c.medianFactor)}×`,
      c.factors.map(f2).join(', '),
      `${f2(c.cpuFactor)}×`,
    ]),
  );
  write(
    'ratio-to-bare.svg',
    barChart({
      title: `req/s as a share of the bare framework (${data.node}, median of ${data.rounds} rounds)`,
      groups,
      unit: '×',
      marker: 1,
      legend:
        'Blue: obskit; grey: what users assemble. + µs: server CPU per request added to bare in the same round.',
    }),
  );
}

// 2. Scrape render time and the longest event-loop block against series count.
if (values.scrape) {
  const data = read(values.scrape);
  const pick = (impl, key) =>
    data.summary.filter((s) => s.impl === impl).map((s) => [s.target, s[key]]);
  table(
    `/metrics scrape (${data.node}, median of ${data.rounds} rounds)`,
    [
      'series',
      'obskit render ms',
      'prom-client render ms',
      'prom-client ÷ obskit',
      'obskit longest block ms',
      'prom-client longest block ms',
      'obskit heap B/series',
      'prom-client heap B/series',
    ],
    [...new Set(data.summary.map((x) => x.target))].map((target) => {
      const o = data.summary.find((x) => x.target === target && x.impl === 'obskit');
      const p = data.summary.find((x) => x.target === target && x.impl === 'prom-client');
      return [
        o.series,
        f2(o.renderMs),
        f2(p.renderMs),
        `${f2(o.promClientOverObskit)}×`,
        f2(o.maxBlockMs),
        f2(p.maxBlockMs),
        Math.round(o.heapBytesPerSeries),
        Math.round(p.heapBytesPerSeries),
      ];
    }),
  );
  write(
    'scrape-time.svg',
    lineChart({
      title: `/metrics render time and longest event-loop block (${data.node})`,
      xLabel: 'series in the registry',
      yLabel: 'ms',
      logX: true,
      yMarker: 20,
      yMarkerLabel: '20 ms',
      series: [
        { label: 'obskit render', points: pick('obskit', 'renderMs'), color: '#2b6cb0' },
        { label: 'prom-client render', points: pick('prom-client', 'renderMs'), color: '#a0aec0' },
        {
          label: 'obskit longest block',
          points: pick('obskit', 'maxBlockMs'),
          color: '#2b6cb0',
          dashed: true,
        },
        {
          label: 'prom-client longest block',
          points: pick('prom-client', 'maxBlockMs'),
          color: '#a0aec0',
          dashed: true,
        },
      ],
    }),
  );
}

// 3. Added CPU per request against the number of routes.
if (values.routes) {
  const data = read(values.routes);
  const series = [];
  for (const [fw, color] of [
    ['fastify', '#2b6cb0'],
    ['express', '#dd6b20'],
  ]) {
    for (const [c, label, dashed] of [
      ['obskit-full', 'obskit', false],
      ['peer-stack', 'stack', true],
    ]) {
      const points = data.summary
        .filter((s) => s.name === `${fw}-${c}` && s.routes !== null)
        .map((s) => [s.routes, s.medianAddedCpuUs]);
      if (points.length) series.push({ label: `${fw} ${label}`, points, color, dashed });
    }
  }
  settingTable(`Routes (${data.node})`, 'routes', data);
  write(
    'routes.svg',
    lineChart({
      title: `CPU µs per request added to bare, by registered routes (${data.node})`,
      xLabel: 'routes registered (besides the two measured)',
      yLabel: '+µs/req',
      logX: true,
      series,
    }),
  );
}

// 4. p99 latency at 50 and 500 connections.
if (values.connections) {
  const data = read(values.connections);
  const groups = [];
  for (const fw of ['fastify', 'express']) {
    for (const c of [...new Set(data.summary.map((s) => s.connections))]) {
      groups.push({
        label: `${fw}, ${c} connections`,
        bars: ['bare', 'obskit-full', 'peer-stack']
          .map((n) => data.summary.find((s) => s.name === `${fw}-${n}` && s.connections === c))
          .filter(Boolean)
          .map((s) => ({
            label: s.name.replace(`${fw}-`, ''),
            value: s.medianP99Ms,
            note: `${Math.round(s.medianReqPerSec)} req/s`,
            color: s.name.endsWith('peer-stack')
              ? '#a0aec0'
              : s.name.endsWith('bare')
                ? '#718096'
                : '#2b6cb0',
          })),
      });
    }
  }
  table(
    `Connections (${data.node})`,
    ['configuration', 'connections', 'req/s', 'p99 ms', 'ratio to bare', '+µs vs bare'],
    data.summary.map((x) => [
      x.name,
      x.connections,
      Math.round(x.medianReqPerSec),
      x.medianP99Ms,
      f2(x.medianRatioToBare),
      f1(x.medianAddedCpuUs),
    ]),
  );
  write(
    'connections.svg',
    barChart({
      title: `p99 latency by concurrent connections (${data.node})`,
      groups,
      unit: ' ms',
    }),
  );
}

// 5. Log volume: CPU per request added to bare, obskit against pino.
if (values.logs) {
  const data = read(values.logs);
  const groups = [];
  for (const fw of ['fastify', 'express']) {
    for (const lines of [...new Set(data.summary.map((s) => s.lines))]) {
      groups.push({
        label: `${fw}, ${lines} application line${lines === 1 ? '' : 's'} per request`,
        bars: ['logs-obskit', 'logs-pino']
          .map((n) => data.summary.find((s) => s.name === `${fw}-${n}` && s.lines === lines))
          .filter(Boolean)
          .map((s) => ({
            label: s.name.endsWith('obskit')
              ? 'obskit logger'
              : 'pino, recommended async destination',
            value: s.medianAddedCpuUs,
            note: `${fmt(s.medianRatioToBare)}× bare`,
            color: s.name.endsWith('obskit') ? '#2b6cb0' : '#a0aec0',
          })),
      });
    }
  }
  settingTable(`Log volume (${data.node})`, 'lines', data);
  table(
    `Log volume, obskit ÷ pino in the same round (${data.node})`,
    ['A ÷ B', 'req/s factor', 'CPU factor'],
    (data.comparisons ?? []).map((c) => [
      `${c.a} ÷ ${c.b}`,
      `${f2(c.medianFactor)}×`,
      `${f2(c.cpuFactor)}×`,
    ]),
  );
  write(
    'logs.svg',
    barChart({
      title: `Logging: CPU µs per request added to bare (${data.node})`,
      groups,
      unit: ' µs',
    }),
  );
}

// 6. Span export: CPU per request added, with what reached the receiver.
if (values.export) {
  const data = read(values.export);
  const groups = ['fastify', 'express'].map((fw) => ({
    label: fw,
    bars: ['export-obskit', 'export-peer']
      .map((n) => data.summary.find((s) => s.name === `${fw}-${n}`))
      .filter(Boolean)
      .map((s) => {
        const st = (s.stats ?? []).filter(Boolean);
        const served = st.reduce((n, x) => n + x.served, 0);
        const received = st.reduce((n, x) => n + x.receiver.spans, 0);
        const dropped = st.reduce((n, x) => n + x.dropped, 0);
        return {
          label: s.name.endsWith('obskit')
            ? 'obskit (OTLP http/protobuf)'
            : 'OpenTelemetry SDK (same exporter)',
          value: s.medianAddedCpuUs,
          note: `${(received / served).toFixed(2)} spans/request received, ${dropped} dropped`,
          color: s.name.endsWith('obskit') ? '#2b6cb0' : '#a0aec0',
        };
      }),
  }));
  table(
    `Span export (${data.node})`,
    [
      'configuration',
      'req/s',
      'ratio to bare',
      '+µs vs bare',
      'requests served',
      'spans exported',
      'dropped',
      'received',
      'receiver requests',
    ],
    data.summary.map((x) => {
      const st = (x.stats ?? []).filter(Boolean);
      const sum = (k) => st.reduce((n, y) => n + (k(y) ?? 0), 0);
      return [
        x.name,
        Math.round(x.medianReqPerSec),
        f2(x.medianRatioToBare),
        f1(x.medianAddedCpuUs),
        st.length ? sum((y) => y.served) : '',
        st.length ? sum((y) => y.exported) : '',
        st.length ? sum((y) => y.dropped) : '',
        st.length ? sum((y) => y.receiver.spans) : '',
        st.length ? sum((y) => y.receiver.requests) : '',
      ];
    }),
  );
  write(
    'export.svg',
    barChart({
      title: `Tracing with export to a real OTLP receiver: CPU µs per request added (${data.node})`,
      groups,
      unit: ' µs',
    }),
  );
}

console.log(written.join('\n'));
if (values.tables) console.log(`\n${tables.join('\n')}`);
