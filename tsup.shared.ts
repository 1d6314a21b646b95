// The one tsup configuration of the published packages. Each package's tsup.config.ts calls
// `packageConfig()`: its entry points are read from its package.json `exports` ("." is
// src/index.ts, "./fastify" is src/fastify.ts, …), built as ESM and CommonJS with types.
import { readFileSync } from 'node:fs';
import type { Options } from 'tsup';

export function packageConfig(): Options {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
    exports: Record<string, unknown>;
  };
  // Built entries are the exports with import/require conditions; a plain file path (a prebuilt
  // browser bundle, package.json) is not built from src/.
  const entry = Object.entries(pkg.exports)
    .filter(([, target]) => typeof target === 'object' && target !== null)
    .map(([key]) => key)
    .map((key) => (key === '.' ? 'src/index.ts' : `src/${key.slice(2)}.ts`));
  return {
    entry,
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    splitting: true,
    target: 'node20',
    platform: 'node',
    shims: true,
  };
}
