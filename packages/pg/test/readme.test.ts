// The alerts the README names are the ones infra/ ships.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const alerts = readFileSync(
  new URL('../../../infra/prometheus/alerts.yml', import.meta.url),
  'utf8',
);

describe('the README', () => {
  it('names the pool alerts as infra/prometheus/alerts.yml has them', () => {
    const named = [...readme.matchAll(/`(Db[A-Za-z]+)`/g)].map((m) => m[1] as string);
    expect(named.length).toBeGreaterThan(0);
    const shipped = [...alerts.matchAll(/- alert: (\w+)/g)].map((m) => m[1] as string);
    for (const name of named) expect(shipped, name).toContain(name);
  });
});
