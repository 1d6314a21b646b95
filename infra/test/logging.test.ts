// infra/logging against the lines obskit really writes: the fields the shipper configurations
// and the guide name exist in the obskit logger's output, in both formats; Loki labels stay bounded.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type * as ObskitCore from '../../packages/core/src/index.js';
import type * as ObskitCoreInternal from '../../packages/core/src/internal.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = join(root, 'infra', 'logging');

/** Lines written by the built obskit logger (what an app ships), inside a request and outside. */
async function lines(ecs: boolean): Promise<Record<string, unknown>[]> {
  const load = <T>(file: string) => import(pathToFileURL(join(root, file)).href) as Promise<T>;
  const { createLogger } = await load<typeof ObskitCore>('packages/core/dist/index.js');
  const { runWithRequestContext } = await load<typeof ObskitCoreInternal>(
    'packages/core/dist/internal.js',
  );
  let out = '';
  const destination = new Writable({
    write(chunk: Buffer, _e, cb) {
      out += chunk.toString();
      cb();
    },
  });
  const logger = createLogger({
    service: 'obskit-demo-api',
    env: 'production',
    version: '1.0.0',
    ecs,
    destination,
  });
  runWithRequestContext(
    { reqId: 'req-1', traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: '01' },
    () => {
      logger.info(
        { method: 'GET', route: '/users/:id', path: '/users/7', statusCode: 200, durationMs: 2.5 },
        'request completed',
      );
      logger.error({ err: new TypeError('bad') }, 'request failed');
    },
  );
  logger.info('started');
  return out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** `stage.<name> { … }` blocks of the Alloy file, and the keys of their `values`/`expressions` maps. */
function alloyStage(text: string, stage: string): string[] {
  const start = text.indexOf(`stage.${stage} {`);
  expect(start, `stage.${stage}`).toBeGreaterThan(-1);
  let depth = 0;
  let end = start;
  for (let i = text.indexOf('{', start); i < text.length; i++) {
    if (text[i] === '{') depth++;
    if (text[i] === '}' && --depth === 0) {
      end = i;
      break;
    }
  }
  const body = text.slice(start, end);
  const inner = /(?:values|expressions)\s*=\s*\{([^}]*)\}/.exec(body)?.[1] ?? '';
  return [...inner.matchAll(/^\s*([A-Za-z_]\w*)\s*=/gm)].map((m) => m[1]!);
}

describe('Alloy → Loki (LOG_FORMAT=json)', () => {
  const alloy = readFileSync(join(dir, 'alloy.river'), 'utf8');

  it('extracts fields that obskit lines carry', async () => {
    const [access] = await lines(false);
    const expressions = [...alloy.matchAll(/^\s*(\w+)\s*=\s*"(\w+)",?$/gm)]
      .filter((m) => alloyStage(alloy, 'json').includes(m[1]!))
      .map((m) => m[2]!);
    expect(expressions.length).toBeGreaterThanOrEqual(5);
    for (const field of expressions) expect(access, field).toHaveProperty(field);
  });

  it('labels only bounded fields and keeps the ids as structured metadata', () => {
    const labels = alloyStage(alloy, 'labels');
    expect(labels.sort()).toEqual(['env', 'level', 'service']);
    for (const unbounded of ['reqId', 'trace_id', 'span_id', 'route', 'path'])
      expect(labels).not.toContain(unbounded);
    expect(alloyStage(alloy, 'structured_metadata').sort()).toEqual([
      'reqId',
      'span_id',
      'trace_id',
    ]);
    // The line's own ISO time is its timestamp.
    expect(alloy).toMatch(/stage\.timestamp \{\s*source = "time"\s*format = "RFC3339Nano"/);
  });
});

describe('Filebeat → Elasticsearch (LOG_FORMAT=ecs)', () => {
  const config = parse(readFileSync(join(dir, 'filebeat.yml'), 'utf8')) as {
    'filebeat.inputs': { parsers: Record<string, Record<string, unknown>>[] }[];
    'output.elasticsearch': { index: string };
  };

  it('decodes ECS lines with dotted keys expanded, at the top of the document', () => {
    const parsers = config['filebeat.inputs'][0]!.parsers;
    expect(Object.keys(parsers[0]!)).toEqual(['container']);
    expect(parsers[1]!.ndjson).toMatchObject({
      target: '',
      expand_keys: true,
      message_key: 'message',
    });
  });

  it('names fields ECS lines carry: the index pattern and the guide’s keyword fields', async () => {
    const [access, failed] = await lines(true);
    for (const field of config['output.elasticsearch'].index.matchAll(/%\{\[([^\]]+)\]\}/g))
      expect(access, field[1]).toHaveProperty([field[1]!]);
    const guide = readFileSync(join(dir, 'README.md'), 'utf8');
    const section = guide.slice(guide.indexOf('Index as `keyword`'), guide.indexOf('## Loki'));
    const named = [...section.matchAll(/`([a-z_.@]+)`/g)].map((m) => m[1]!);
    for (const field of named.filter((f) => f.includes('.'))) {
      const line = field.startsWith('error.') ? failed : access;
      const value = field
        .split('.')
        .reduce<unknown>((o, k) => (o as Record<string, unknown>)?.[k], line);
      const flat = (line as Record<string, unknown>)[field];
      expect(value ?? flat, field).toBeDefined();
    }
  });
});

describe('the guide’s field table', () => {
  it('maps each obskit field to the ECS field the logger writes', async () => {
    const [json] = await lines(false);
    const [ecs] = await lines(true);
    for (const [obskit, name] of [
      ['reqId', 'http.request.id'],
      ['trace_id', 'trace.id'],
      ['span_id', 'span.id'],
      ['msg', 'message'],
      ['level', 'log.level'],
      ['service', 'service.name'],
      ['statusCode', 'http.response.status_code'],
    ] as const) {
      expect(ecs?.[name], name).toBe(json?.[obskit]);
    }
    expect(ecs?.['event.duration']).toBe(2_500_000);
  });
});
