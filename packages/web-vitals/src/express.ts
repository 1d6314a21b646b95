import type { IncomingMessage, ServerResponse } from 'node:http';
import { markEndpoint, pathOf } from '@obskit/core/internal';
import type { RequestHandler } from 'express';
import { createVitalsIntake, type IntakeResult, type VitalsIntakeOptions } from './index.js';

export type { VitalsIntakeOptions } from './index.js';

function answer(res: ServerResponse, result: IntakeResult): void {
  res.statusCode = result.statusCode;
  res.end();
}

/**
 * The web-vitals intake on Express: answers `POST /telemetry/vitals` (the `path` option), for the
 * reports of `@obskit/web-vitals/browser`; everything else goes on. Mount it after obskit:
 * `app.use(webVitals({ registry: o.metrics.registry, pages: ['/products/:id'] }))`. Reads the body
 * itself, up to `maxBodyBytes`, unless a body parser before it already did.
 */
export function webVitals(options: VitalsIntakeOptions): RequestHandler {
  const intake = createVitalsIntake(options);
  const handler = (
    req: IncomingMessage & { body?: unknown },
    res: ServerResponse,
    next: () => void,
  ) => {
    if (req.method !== 'POST' || pathOf(req.url) !== intake.path) return next();
    markEndpoint(req, intake.path);
    const type = req.headers['content-type'];
    // A body parser before it (express.json(), express.text()) already read the body.
    const parsed = req.body;
    if (
      typeof parsed === 'string' ||
      (typeof parsed === 'object' && parsed !== null && Object.keys(parsed).length > 0)
    ) {
      answer(res, intake.accept(parsed, type));
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > intake.maxBodyBytes) {
      answer(res, intake.reject('too_large'));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > intake.maxBodyBytes) {
        done = true;
        answer(res, intake.reject('too_large'));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      answer(res, intake.accept(Buffer.concat(chunks).toString('utf8'), type));
    });
    req.on('error', () => {
      done = true;
    });
  };
  return handler as unknown as RequestHandler;
}

export default webVitals;
