// The browser side: reports the page's Core Web Vitals (and FCP, TTFB) to obskit's intake with
// `navigator.sendBeacon` when the page is hidden or left, with the page load's trace context from
// the server's `<meta name="traceparent">` (`traceparentMeta()`), so each vital links to the
// backend trace of that page load.
import { onCLS, onFCP, onINP, onLCP, onTTFB, type Metric } from 'web-vitals';

export interface ReportOptions {
  /** Where the reports go. Default `/telemetry/vitals`. */
  url?: string;
  /** The page, matched against the intake's route templates. Default `location.pathname`. */
  page?: string;
  /** The page load's trace context. Default: the `traceparent` meta tag's content. */
  traceparent?: string;
}

interface Queued {
  name: string;
  value: number;
  rating: string;
  id: string;
}

/**
 * The page load's trace context: the content of the server's `<meta name="traceparent">`
 * (`traceparentMeta()`), or `undefined`. Send it as the `traceparent` header of the page's own
 * calls to the API, and their server spans continue the page load's trace.
 */
export function pageTraceparent(): string | undefined {
  return document.querySelector('meta[name="traceparent"]')?.getAttribute('content') ?? undefined;
}

/** Starts reporting; `flush()` sends what is queued now (it also happens when the page is hidden). */
export function reportWebVitals(options: ReportOptions = {}): { flush(): void } {
  const url = options.url ?? '/telemetry/vitals';
  const page = options.page ?? location.pathname;
  const traceparent = options.traceparent ?? pageTraceparent();
  let queue: Queued[] = [];
  const flush = (): void => {
    if (queue.length === 0) return;
    const body = JSON.stringify({ page, traceparent, metrics: queue });
    queue = [];
    // A string body goes as text/plain: no CORS preflight, and it outlives the page.
    if (!navigator.sendBeacon?.(url, body)) {
      void fetch(url, { method: 'POST', body, keepalive: true }).catch(() => undefined);
    }
  };
  const add = (metric: Metric): void => {
    queue.push({ name: metric.name, value: metric.value, rating: metric.rating, id: metric.id });
  };
  onCLS(add);
  onFCP(add);
  onINP(add);
  onLCP(add);
  onTTFB(add);
  // After web-vitals' own listeners (on the document), which report LCP, CLS and INP on hide.
  addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') flush();
  });
  addEventListener('pagehide', flush);
  return { flush };
}
