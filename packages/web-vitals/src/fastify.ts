import type { FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Registry } from 'prom-client';
import { fastifyPipeline, invalidOption } from '@obskit/core/internal';
import { createVitalsIntake, type RejectReason, type VitalsIntakeOptions } from './index.js';

export interface VitalsPluginOptions extends Omit<VitalsIntakeOptions, 'registry'> {
  /** Default: the registry of obskit's metrics plugin (`app.metrics.registry`). */
  registry?: Registry;
}

// Fastify's own refusals of a body, as the intake's reasons.
const REASONS: Record<string, RejectReason> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid',
};

const plugin: FastifyPluginAsync<VitalsPluginOptions> = async (fastify, options) => {
  const registry =
    options.registry ??
    (fastify as unknown as { metrics?: { registry?: Registry } }).metrics?.registry;
  if (registry === undefined) {
    throw invalidOption(
      'vitals.registry',
      "a prom-client Registry (or obskit's metrics plugin registered first)",
      registry,
    );
  }
  const intake = createVitalsIntake({ ...options, registry });
  // One of obskit's own endpoints: neither traced, counted nor access-logged unless asked.
  fastifyPipeline(fastify).addEndpoint(intake.path);
  fastify.post(
    intake.path,
    {
      bodyLimit: intake.maxBodyBytes,
      errorHandler(error, _request, reply) {
        const reason = REASONS[(error as { code?: string }).code ?? ''] ?? 'invalid';
        const result = intake.reject(reason);
        void reply.code(result.statusCode).send();
      },
    },
    async (request, reply) => {
      const result = intake.accept(request.body, request.headers['content-type'], request.ip);
      return reply.code(result.statusCode).send();
    },
  );
};

/**
 * The web-vitals intake on Fastify: `POST /telemetry/vitals` (the `path` option), for the reports
 * of `@obskit/web-vitals/browser`. Register it after obskit, whose metrics registry it uses.
 */
export const webVitals = fp(plugin, { fastify: '5.x', name: '@obskit/web-vitals' });
export default webVitals;
