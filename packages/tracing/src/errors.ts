import { SpanStatusCode, type Span } from '@opentelemetry/api';
import { errorTypeOf } from '@obskit/core/internal';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';

/**
 * Records `error` on `span`: `error.type`, an `exception` event of the same type (the log
 * line's `err.type` too: the error's class name, unless `type` is given), and an error status with
 * the message.
 */
export function recordError(span: Span, error: unknown, type = errorTypeOf(error)): void {
  span.setAttribute(ATTR_ERROR_TYPE, type);
  const e = error as { message?: unknown; stack?: unknown; code?: unknown };
  const message = typeof e?.message === 'string' ? e.message : undefined;
  if (error instanceof Error || (typeof error === 'object' && error !== null)) {
    span.recordException({
      name: type,
      ...(message === undefined ? {} : { message }),
      ...(typeof e.stack === 'string' ? { stack: e.stack } : {}),
      ...(typeof e.code === 'string' || typeof e.code === 'number' ? { code: e.code } : {}),
    });
  }
  span.setStatus({
    code: SpanStatusCode.ERROR,
    ...(message === undefined ? {} : { message: message.slice(0, 200) }),
  });
}
