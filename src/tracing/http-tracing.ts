/**
 * One SERVER span per HTTP request, child of the caller's `traceparent`
 * when it sends one, named by method and route pattern (never the raw path)
 * and carrying the status code. Probes and scrapes (`/healthz`, `/readyz`,
 * `/metrics`) are not traced: they would be most traces and say nothing.
 * With tracing off the middleware only calls next.
 */
import { propagation, ROOT_CONTEXT, trace, type TextMapGetter } from '@opentelemetry/api';
import type { MiddlewareHandler } from 'hono';
import { matchedRoutePattern } from '../metrics/index.ts';
import { inSpan, SpanKind } from './spans.ts';
import { tracingEnabled } from './tracing.ts';

const requestHeaders: TextMapGetter<Headers> = {
  keys: (h) => [...h.keys()],
  get: (h, key) => h.get(key) ?? undefined,
};

const UNTRACED = new Set(['/healthz', '/readyz', '/metrics']);

export function httpTracing(): MiddlewareHandler {
  return async (c, next) => {
    if (!tracingEnabled() || UNTRACED.has(c.req.path)) return next();
    const parent = propagation.extract(ROOT_CONTEXT, c.req.raw.headers, requestHeaders);
    await inSpan(`HTTP ${c.req.method}`, { kind: SpanKind.SERVER, parent, attributes: { 'http.request.method': c.req.method } }, async () => {
      await next();
      const span = trace.getActiveSpan();
      const route = matchedRoutePattern(c);
      span?.updateName(`HTTP ${c.req.method} ${route}`);
      span?.setAttributes({ 'http.route': route, 'http.response.status_code': c.res.status });
    });
  };
}
