/**
 * The Hono app: probes for every role, request ids, client address, body
 * size limit, per-IP rate limit on /v1, error mapping, the resource routers
 * the roles mount (src/http/routes/), and `/openapi.json` generated from the
 * same zod schemas that validate the requests. Routes talk to actors only
 * over NATS through the ActorClient.
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import { bodyLimit } from 'hono/body-limit';
import type { AuthEnv } from '../auth/principal.ts';
import type { AsyncRateLimiter } from '../auth/rate-limiter.ts';
import type { Logger } from '../log.ts';
import { httpMetrics } from '../metrics/index.ts';
import { httpTracing } from '../tracing/index.ts';
import { clientIp } from './client-ip.ts';
import { errorResponse, HttpError } from './errors.ts';
import { createRouter, errorResponses, jsonContent, SECURITY_SCHEMES, type Router } from './router.ts';

/** Default largest request body, when AppDeps.maxBodyBytes is not given. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export interface AppDeps {
  readonly log: Logger;
  /**
   * Resource routers mounted under their path (e.g. /v1/docs), per role.
   * Build them with `createRouter()` and register every route with
   * `router.openapi(createRoute(…))` so it validates and is documented.
   */
  readonly routes: ReadonlyArray<{ readonly path: string; readonly router: Router }>;
  /** Each check throws (or rejects) when its dependency is not ready. */
  readonly readinessChecks: ReadonlyArray<{ readonly name: string; check(): Promise<void> }>;
  /** Each returns a warning (null: none); warnings are listed by /readyz but never make it fail (e.g. work waiting for absent workers). */
  readonly readinessWarnings?: ReadonlyArray<{ readonly name: string; warn(): Promise<string | null> }>;
  /** Largest request body; larger ones get 413. Default {@link DEFAULT_MAX_BODY_BYTES}. */
  readonly maxBodyBytes?: number;
  /** Take the client address from X-Forwarded-For (see client-ip.ts). Default false. */
  readonly trustProxy?: boolean;
  /** Token bucket per client IP for every /v1 request; none when absent. */
  readonly apiRateLimit?: AsyncRateLimiter;
  /** `info.version` in /openapi.json. */
  readonly version?: string;
}

/** Media types whose bodies the validators parse in memory. */
const PARSED_BODY = /^\s*(application\/([\w.+-]*\+)?json|application\/x-www-form-urlencoded|multipart\/form-data)\b/i;

const probeSchema = z.object({ status: z.string() }).openapi('Health');
const readySchema = z
  .object({ status: z.enum(['ready', 'not-ready']), failures: z.record(z.string(), z.string()), warnings: z.record(z.string(), z.string()) })
  .openapi('Readiness');

/**
 * Builds the app: middleware (request id, client IP, body limit, per-IP /v1
 * limit), error mapping, probes, the given routers and `/openapi.json`.
 * Mount routers built with `createRouter()`; routes added any other way are
 * served but missing from the OpenAPI document (app.test.ts checks that none are).
 */
export function createApp(deps: AppDeps): OpenAPIHono<AuthEnv> {
  const app = new OpenAPIHono<AuthEnv>();
  const trustProxy = deps.trustProxy ?? false;
  let nextReq = 0;

  // Outermost, so they see every request, refused ones included (src/metrics, src/tracing).
  app.use('*', httpTracing());
  app.use('*', httpMetrics());
  app.use('*', async (c, next) => {
    const reqId = c.req.header('x-request-id')?.slice(0, 64) ?? `r${++nextReq}`;
    c.header('x-request-id', reqId);
    c.set('clientIp', clientIp(c, trustProxy));
    await next();
    deps.log.debug({ reqId, method: c.req.method, path: c.req.path, status: c.res.status }, 'http request');
  });

  // JSON and form bodies are read into memory by the validators, so they are
  // bounded here. Other bodies (uploads to /v1/objects) are streamed by routes
  // that enforce their own, larger limits; the validators never read them.
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const limitBody = bodyLimit({
    maxSize: maxBodyBytes,
    onError: () => {
      throw new HttpError(413, 'payload-too-large', `request body larger than ${maxBodyBytes} bytes`);
    },
  });
  // Signed object uploads (/v1/objects/…) may be JSON too; their route enforces the size the URL was signed for.
  app.use('*', (c, next) => (PARSED_BODY.test(c.req.header('content-type') ?? '') && !c.req.path.startsWith('/v1/objects/') ? limitBody(c, next) : next()));

  const perIp = deps.apiRateLimit;
  if (perIp !== undefined) {
    app.use('/v1/*', async (c, next) => {
      const r = await perIp.take(`ip:${c.get('clientIp')}`);
      if (!r.ok) throw new HttpError(429, 'rate-limited', 'too many requests from this address', { retryAfterMs: r.retryAfterMs });
      await next();
    });
  }

  app.onError((err, c) => errorResponse(c, err, deps.log));
  app.notFound((c) => c.json({ error: { code: 'not-found', message: `no route for ${c.req.method} ${c.req.path}` } }, 404));

  const probes = createRouter();
  probes.openapi(
    createRoute({ method: 'get', path: '/healthz', tags: ['probes'], summary: 'Liveness', responses: { 200: jsonContent(probeSchema, 'Alive') } }),
    (c) => c.json({ status: 'ok' }, 200),
  );
  probes.openapi(
    createRoute({
      method: 'get',
      path: '/readyz',
      tags: ['probes'],
      summary: 'Readiness of every dependency',
      responses: { 200: jsonContent(readySchema, 'Ready'), 503: jsonContent(readySchema, 'Not ready') },
    }),
    async (c) => {
      const failures: Record<string, string> = {};
      await Promise.all(
        deps.readinessChecks.map(async ({ name, check }) => {
          try {
            await check();
          } catch (err) {
            failures[name] = err instanceof Error ? err.message : String(err);
          }
        }),
      );
      const warnings: Record<string, string> = {};
      await Promise.all(
        (deps.readinessWarnings ?? []).map(async ({ name, warn }) => {
          try {
            const warning = await warn();
            if (warning !== null) warnings[name] = warning;
          } catch (err) {
            warnings[name] = `could not be checked: ${err instanceof Error ? err.message : String(err)}`;
          }
        }),
      );
      const ready = Object.keys(failures).length === 0;
      return ready ? c.json({ status: 'ready' as const, failures, warnings }, 200) : c.json({ status: 'not-ready' as const, failures, warnings }, 503);
    },
  );
  app.route('/', probes);

  for (const { path, router } of deps.routes) app.route(path, router);

  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) app.openAPIRegistry.registerComponent('securitySchemes', name, scheme);
  app.doc('/openapi.json', {
    openapi: '3.0.3',
    info: { title: 'Loom API', version: deps.version ?? '1', description: 'Errors: `{ "error": { "code", "message", "field"? } }`.' },
  });
  // Listed in the document it serves, like every other route.
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/openapi.json',
    tags: ['meta'],
    summary: 'This OpenAPI document',
    responses: { 200: { description: 'OpenAPI 3 document', content: { 'application/json': { schema: z.object({}).passthrough() } } }, ...errorResponses(500) },
  });
  return app;
}
