/**
 * The Hono app: probes for every role, request ids, error mapping, and the
 * resource routers the roles mount (src/http/routes/). Routes talk to actors
 * only over NATS through the ActorClient.
 */
import { Hono } from 'hono';
import type { Logger } from '../log.ts';
import { errorResponse } from './errors.ts';

export interface AppDeps {
  readonly log: Logger;
  /** Resource routers mounted under their path (e.g. /v1/docs), per role. */
  readonly routes: ReadonlyArray<{ readonly path: string; readonly router: Hono }>;
  /** Each check throws (or rejects) when its dependency is not ready. */
  readonly readinessChecks: ReadonlyArray<{ readonly name: string; check(): Promise<void> }>;
}

export function createApp(deps: AppDeps): Hono {
  const app = new Hono();
  let nextReq = 0;

  app.use('*', async (c, next) => {
    const reqId = c.req.header('x-request-id')?.slice(0, 64) ?? `r${++nextReq}`;
    c.header('x-request-id', reqId);
    await next();
    deps.log.debug({ reqId, method: c.req.method, path: c.req.path, status: c.res.status }, 'http request');
  });

  app.onError((err, c) => errorResponse(c, err, deps.log));
  app.notFound((c) => c.json({ error: { code: 'not-found', message: `no route for ${c.req.method} ${c.req.path}` } }, 404));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
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
    const ready = Object.keys(failures).length === 0;
    return c.json({ status: ready ? 'ready' : 'not-ready', failures }, ready ? 200 : 503);
  });

  for (const { path, router } of deps.routes) app.route(path, router);
  return app;
}
