// PostgreSQL query spans on the real server (127.0.0.1:5432, trust auth, database `test`), from
// an ES module app in a child process (test/fixtures/pg-app.mjs): pg is imported after tracing
// starts, as apps import it.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SpanKind } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { sanitizeQueryText } from '../src/pg.js';

const fixture = fileURLToPath(new URL('./fixtures/pg-app.mjs', import.meta.url));

interface Span {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parent?: string;
  status: number;
  attributes: Record<string, unknown>;
}

function run(mode?: string): Span[] {
  const result = spawnSync(process.execPath, [fixture, ...(mode ? [mode] : [])], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  expect(result.status, result.stderr).toBe(0);
  // The spans' line, wherever obskit's own log lines (asynchronous) land around it.
  const line = result.stdout.split('\n').find((l) => l.startsWith('SPANS '));
  expect(line, result.stdout).toBeDefined();
  return JSON.parse(line!.slice('SPANS '.length)) as Span[];
}

describe('PostgreSQL query spans', () => {
  it('one CLIENT span per query inside a trace, stable attributes, the text sanitised', () => {
    const spans = run();
    const server = spans.find((s) => s.name === 'GET /users/:id' && s.parent === undefined)!;
    const queries = spans.filter((s) => s.kind === SpanKind.CLIENT);
    // The query outside any span made none; no connect spans.
    expect(queries).toHaveLength(2);
    for (const q of queries) {
      expect(q.traceId).toBe(server.traceId);
      expect(q.parent).toBe(server.spanId);
      expect(q.attributes).toMatchObject({
        'db.system.name': 'postgresql',
        'db.namespace': 'test',
        'server.address': '127.0.0.1',
      });
    }
    const [select, missing] = queries;
    expect(select!.attributes['db.query.text']).toBe('SELECT $1::text AS id, ? AS email, ? AS n');
    expect(JSON.stringify(spans)).not.toContain('secret@example.com');
    // A failing query: an error span with the SQLSTATE.
    expect(missing!.status).toBe(2);
    expect(missing!.attributes['db.query.text']).toBe('SELECT * FROM no_such_table');
  });

  it('rawQueryText keeps the text; pg: false makes none', () => {
    const raw = run('raw').filter((s) => s.kind === SpanKind.CLIENT);
    expect(raw[0]!.attributes['db.query.text']).toBe(
      "SELECT $1::text AS id, 'secret@example.com' AS email, 42 AS n",
    );
    expect(run('off').filter((s) => s.kind === SpanKind.CLIENT)).toEqual([]);
  });

  it('sanitises literals and keeps names, placeholders and keywords', () => {
    const cases: [string, string][] = [
      [
        "SELECT * FROM users WHERE email = 'a@b.c' AND age > 30",
        'SELECT * FROM users WHERE email = ? AND age > ?',
      ],
      ["INSERT INTO t (a, b) VALUES ('it''s', -1.5e3)", 'INSERT INTO t (a, b) VALUES (?, ?)'],
      ['UPDATE jobs SET status = $1 WHERE id = $2', 'UPDATE jobs SET status = $1 WHERE id = $2'],
      ['SELECT col1, t2.x3 FROM table2 t2 LIMIT 10', 'SELECT col1, t2.x3 FROM table2 t2 LIMIT ?'],
      ["SELECT $tag$ secret 'x' $tag$, E'a\\'b'", 'SELECT ?, ?'],
      // A backslash is a character in a standard string: the next quote ends it.
      ["WHERE p = 'C:\\' AND s = 'x' AND t = 'hunter2'", 'WHERE p = ? AND s = ? AND t = ?'],
      ["SELECT /* don't */ 'secret' -- it's\nFROM t", 'SELECT   ?  \nFROM t'],
    ];
    for (const [text, expected] of cases) expect(sanitizeQueryText(text)).toBe(expected);
    expect(
      sanitizeQueryText(`SELECT '${'x'.repeat(5000)}' || ${'1 + '.repeat(1000)}1`).length,
    ).toBeLessThanOrEqual(2049);
  });
});
