import type { Server } from 'node:http';
import type { Logger } from '@obskit/core';
import type { Request, Response } from 'express';
import Fastify from 'fastify';
import { describe, expectTypeOf, it } from 'vitest';
import type { Health } from '@obskit/health';
import type { MetricHelpers } from '@obskit/metrics';
import { obskit as expressObskit, type ObskitMiddleware } from '../src/express.js';
import { obskit, obskitServerOptions, type ObskitOptions } from '../src/fastify.js';

describe('obskit types', () => {
  it('needs a service name', () => {
    expectTypeOf<ObskitOptions>().toHaveProperty('service').toEqualTypeOf<string>();
    // @ts-expect-error service is required
    expressObskit({});
    // @ts-expect-error sections take options or false, not true
    expressObskit({ service: 's', metrics: true });
  });

  it('types the Fastify decorators and the Express middleware', async () => {
    const app = Fastify(obskitServerOptions({ service: 's' }));
    await app.register(obskit, { service: 's' });
    expectTypeOf(app.metrics).toEqualTypeOf<MetricHelpers>();
    expectTypeOf(app.health).toEqualTypeOf<Health>();
    const counter = app.metrics.counter({
      name: 'x_total',
      help: 'x',
      labelNames: ['type'] as const,
    });
    counter.inc({ type: 'email' });
    // @ts-expect-error unknown label
    counter.inc({ kind: 'email' });
    const mw = expressObskit({ service: 's' });
    expectTypeOf(mw).toMatchTypeOf<ObskitMiddleware>();
    expectTypeOf(mw.attach).parameter(0).toMatchTypeOf<Server>();
  });

  it('types req.log, res.log and req.id on Express', () => {
    expectTypeOf<Request['log']>().toEqualTypeOf<Logger>();
    expectTypeOf<Response['log']>().toEqualTypeOf<Logger>();
    expectTypeOf<Request['id']>().toEqualTypeOf<string>();
  });
});
