import type { IncomingMessage, ServerResponse } from 'node:http';
import { addExpressEndpoint, invalidOption, pathOf } from '@obskit/core/internal';
import type { RequestHandler } from 'express';
import { createVitalsIntake, type IntakeResult, type VitalsIntakeOptions } from './index.js';

export type { VitalsIntakeOptions } from './index.js';

function answer(res: ServerResponse, result: IntakeResult): void {
  if (res.destroyed || res.writableEnded) return;
  res.statusCode = result.statusCode;
  res.end();
}

export interface VitalsMiddlewareOptions extends Omit<VitalsIntakeOptions, 'registry'> {
  /**
   * The obskit middleware of the app (`o`): its metrics registry is the default `registry`, and
   * the intake joins its endpoints (neither traced, counted nor access-logged unless asked).
   */
  obskit?: { pipeline?: unknown; metrics?: { registry?: VitalsIntakeOptions['registry'] } };
  /** Default: the registry of `obskit`. */
  registry?: VitalsIntakeOptions['registry'];
}

/**
 * The web-vitals intake on Express: answers `POST /telemetry/vitals` (the `path` option), for the
 * reports of `@obskit/web-vitals/browser`; everything else goes on. Mount it after obskit:
 * `app.use(webVitals({ obskit: o, pages: ['/products/:id'] }))`. Reads the body
 * itself, up to `maxBodyBytes`, unless a body parser before it already did.
 */
export function webVitals(options: VitalsMiddlewareOptions): RequestHandler {
  const registry = options.registry ?? options.obskit?.metrics?.registry;
  if (registry === undefined) {
    throw invalidOption(
      'vitals.registry',
      "a prom-client Registry (or the obskit middleware as 'obskit')",
      registry,
    );
  }
  const { obskit, ...rest } = options;
  const intake = createVitalsIntake({ ...rest, registry });
  addExpressEndpoint(intake.path, obskit as Parameters<typeof addExpressEndpoint>[1]);
  const handler = (
    req: IncomingMessage & { body?: unknown; ip?: string },
    res: ServerResponse,
    next: () => void,
  ) => {
    if (req.method !== 'POST' || pathOf(req.url) !== intake.path) return next();
    const type = req.headers['content-type'];
    // Express's address, as its `trust proxy` setting reads it.
    const client = req.ip ?? req.socket.remoteAddress;
    // A body parser before it (express.json(), express.text()) already read the body: what it
    // made of it is the report, even an empty one; a stream read to its end holds nothing more.
    const parsed = req.body;
    const parsedSomething =
      typeof parsed === 'string' ||
      (typeof parsed === 'object' && parsed !== null && Object.keys(parsed).length > 0);
    if (parsedSomething || req.readableEnded) {
      answer(res, intake.accept(parsedSomething ? parsed : '', type, client));
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
      answer(res, intake.accept(Buffer.concat(chunks).toString('utf8'), type, client));
    });
    // The body broke off (the client went away, a socket error): answered, never left hanging.
    const broken = (): void => {
      if (done) return;
      done = true;
      answer(res, intake.reject('invalid'));
    };
    req.on('error', broken);
    req.on('close', () => {
      if (!req.readableEnded) broken();
    });
  };
  return handler as unknown as RequestHandler;
}

export default webVitals;
