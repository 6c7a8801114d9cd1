/**
 * HTTP request latency by method, route pattern and status. The route is the
 * pattern the request matched (`/v1/docs/:id`), never the raw path, so ids
 * never become label values; requests no route matched count as `unmatched`.
 */
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { Histogram } from 'prom-client';
import { FAST_SECONDS, registry } from './registry.ts';

const requestDuration = new Histogram({
  name: 'loom_http_request_duration_seconds',
  help: 'HTTP request latency until the response headers are ready, by method, route pattern and status code',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: FAST_SECONDS,
  registers: [registry],
});

/** Methods Hono routes; anything else is labelled `other` (methods are client-chosen strings). */
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Middleware for `app.use('*', …)`: observes every request, errors included (after onError mapped them). */
export function httpMetrics(): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const method = KNOWN_METHODS.has(c.req.method) ? c.req.method : 'other';
    requestDuration.labels(method, matchedRoutePattern(c), String(c.res.status)).observe((performance.now() - started) / 1_000);
  };
}

/**
 * The route pattern of the handler that answered (`/v1/docs/:id`), or
 * `unmatched`; middleware (`use`) routes are method ALL and never answer.
 */
export function matchedRoutePattern(c: Context): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const r = routes[i];
    if (r !== undefined && r.method !== 'ALL') return r.path;
  }
  return 'unmatched';
}
