// A crash outside any request leaves one fatal JSON line with the error, and the process still
// ends as Node.js ends it (exit 1, its own report on standard error).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/crash-app.mjs', import.meta.url));

function run(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [fixture, ...args], { timeout: 20_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe.each(['fastify', 'express'])('a crash outside a request on %s', (framework) => {
  it.each([
    ['throw', 'uncaught exception', 'uncaughtException', 'boom outside a request'],
    ['reject', 'unhandled rejection', 'unhandledRejection', 'rejected outside a request'],
  ])(
    '%s: one fatal line with err, then Node.js ends the process',
    async (how, msg, origin, message) => {
      const { code, stdout, stderr } = await run(framework, how);
      expect(code).toBe(1);
      const fatal = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((l) => l.level === 'fatal');
      expect(fatal).toHaveLength(1);
      expect(fatal[0]).toMatchObject({ msg, origin, service: 'crashing', err: { message } });
      expect(String((fatal[0]?.err as { stack?: string }).stack)).toContain('crash-app.mjs');
      // Node.js's own report is still there.
      expect(stderr).toContain(message);
    },
  );
});
