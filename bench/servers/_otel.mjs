// Shared by the OpenTelemetry benchmark servers.
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

/** An exporter that drops spans: the benchmarks measure span creation and processing, not I/O. */
export const droppingExporter = {
  export(_spans, done) {
    done({ code: 0 });
  },
  shutdown: async () => {},
  forceFlush: async () => {},
};

/**
 * The OpenTelemetry SDK as users assemble it by hand: a NodeTracerProvider with a batch
 * processor (spans dropped), instrumentation-http, the framework instrumentation given, and any
 * more (instrumentation-undici for the configurations that call out with fetch).
 */
export function startPeerOtel(frameworkInstrumentation, ...more) {
  const provider = new NodeTracerProvider({
    spanProcessors: [new BatchSpanProcessor(droppingExporter)],
  });
  provider.register();
  registerInstrumentations({
    instrumentations: [new HttpInstrumentation(), frameworkInstrumentation, ...more],
  });
}
