// The storage alternative that @obskit/metrics measured its own store against: the same
// per-request path (route templates, one completion callback, bounded labels, exemplars from the
// request context) recording into prom-client's own Counter and Histogram with exemplars
// enabled. Used by the *-metrics-prom-client configurations; see "Storage" in the metrics README.
import {
  normalizeMethod,
  onResponseDone,
  peekRequestContext,
  routeLabel,
  statusCodeLabel,
  statusOfOutcome,
} from '@obskit/core/internal';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

export function promClientRecorder() {
  // prom-client keeps exemplars only on an OpenMetrics registry.
  const registry = new Registry(Registry.OPENMETRICS_CONTENT_TYPE);
  // As @obskit/metrics does by default, so that only the storage differs.
  collectDefaultMetrics({ register: registry });
  const labelNames = ['method', 'route', 'status_code'];
  const total = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests completed, by method, route and status code.',
    labelNames,
    enableExemplars: true,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by method, route and status code.',
    labelNames,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    enableExemplars: true,
    registers: [registry],
  });
  const track = (req, res, routeOf) => {
    const start = performance.now();
    onResponseDone(req, res, (outcome) => {
      const labels = {
        method: normalizeMethod(req.method),
        route: routeLabel(routeOf()),
        status_code: statusCodeLabel(statusOfOutcome(outcome, res)),
      };
      const value = (performance.now() - start) / 1000;
      const context = peekRequestContext(req);
      if (context?.traceFlags === '01') {
        const exemplarLabels = { trace_id: context.traceId, span_id: context.spanId };
        total.inc({ labels, value: 1, exemplarLabels });
        duration.observe({ labels, value, exemplarLabels });
      } else {
        total.inc({ labels, value: 1 });
        duration.observe({ labels, value });
      }
    });
  };
  return { registry, track };
}
