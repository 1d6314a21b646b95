import type { Context } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type {
  ReadableSpan,
  Span,
  SpanExporter,
  SpanProcessor,
} from '@opentelemetry/sdk-trace-node';
import type { WarnLogger } from '@obskit/core/internal';

/** What became of the spans handed to the exporters, counted through their public interfaces. */
export interface SpanDelivery {
  /** Sampled spans ended, each handed to every exporter. */
  readonly ended: number;
  /** Spans an exporter delivered. */
  readonly exported: number;
  /** Spans lost to a failed or timed-out export. */
  readonly failed: number;
  /** Exports that failed or timed out. */
  readonly failedExports: number;
  /** Spans handed over and not yet delivered or lost (in the batch queue, or being sent). */
  readonly pending: number;
}

export class DeliveryCounter implements SpanDelivery {
  ended = 0;
  exported = 0;
  failed = 0;
  failedExports = 0;
  private failing = false;

  constructor(
    private readonly exporters: number,
    private readonly logger: WarnLogger,
  ) {}

  get pending(): number {
    return Math.max(0, this.ended * this.exporters - this.exported - this.failed);
  }

  /** A span processor, first in the list: counts the sampled spans that end. */
  processor(): SpanProcessor {
    return {
      onStart: (_span: Span, _context: Context) => undefined,
      onEnd: (span: ReadableSpan) => {
        if ((span.spanContext().traceFlags & 1) === 1) this.ended++;
      },
      forceFlush: async () => undefined,
      shutdown: async () => undefined,
    };
  }

  /** `exporter`, with each export's outcome counted: a failure said once, and the recovery. */
  wrap(exporter: SpanExporter): SpanExporter {
    const done = (count: number, result: ExportResult): void => {
      if (result.code === ExportResultCode.SUCCESS) {
        this.exported += count;
        if (this.failing) {
          this.failing = false;
          this.logger.warn({ exported: count }, 'span export works again');
        }
        return;
      }
      this.failed += count;
      this.failedExports++;
      if (!this.failing) {
        this.failing = true;
        this.logger.warn(
          { err: result.error, spans: count },
          `span export failed: ${result.error?.message ?? 'no reason given'}; ${count} span(s) lost (counted in otel_spans_dropped_total; said once until exports work again)`,
        );
      }
    };
    return {
      export: (spans, resultCallback) => {
        exporter.export(spans, (result) => {
          done(spans.length, result);
          resultCallback(result);
        });
      },
      shutdown: () => exporter.shutdown(),
      ...(exporter.forceFlush === undefined ? {} : { forceFlush: () => exporter.forceFlush!() }),
    };
  }
}
