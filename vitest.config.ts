import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'packages/*/test/**/*.test.ts',
      // OBSKIT_SKIP_APPS=1 leaves out the demo apps' end-to-end tests (see .ci/run).
      ...(process.env.OBSKIT_SKIP_APPS === '1' ? [] : ['apps/*/test/**/*.test.ts']),
      'bench/test/**/*.test.ts',
      // Prometheus, Alertmanager and Grafana configuration, checked with the real tools.
      'infra/test/**/*.test.ts',
    ],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Two cores: a few workers keep the real-socket tests from starving each other.
    maxWorkers: 2,
    typecheck: {
      enabled: true,
      include: ['packages/*/test/**/*.test-d.ts'],
      tsconfig: './tsconfig.typetest.json',
    },
  },
});
