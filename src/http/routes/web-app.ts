/**
 * The web app at `/`: the page, its script and its stylesheet, built from
 * web/ on first request (src/http/web-bundle.ts) and kept in memory. The app
 * talks to the same gateway through /v1, /collab and /ws, so the page's
 * Content-Security-Policy allows only its own origin.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { AuthEnv } from '../../auth/principal.ts';
import { createRouter, errorResponses, type Router } from '../router.ts';
import type { WebBundle } from '../web-bundle.ts';

/** Same origin only; inline styles for the carets' colours. */
const CONTENT_SECURITY_POLICY = "default-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const FILES = [
  { path: '/', mediaType: 'text/html', summary: 'The web app' },
  { path: '/app.js', mediaType: 'text/javascript', summary: "The web app's script (built from web/src)" },
  { path: '/app.css', mediaType: 'text/css', summary: "The web app's stylesheet" },
] as const;

/** Routes serving the app; `bundle` builds it once per process. */
export function webAppRoutes(deps: { bundle: () => Promise<WebBundle> }): Router {
  const router = createRouter();
  for (const file of FILES) {
    router.openapi(
      createRoute({
        method: 'get',
        path: file.path,
        tags: ['web app'],
        summary: file.summary,
        responses: { 200: { description: file.summary, content: { [file.mediaType]: { schema: z.string() } } }, ...errorResponses(500) },
      }),
      async (c: Context<AuthEnv>) => {
        const asset = (await deps.bundle()).get(file.path);
        if (asset === undefined) throw new Error(`web bundle lacks ${file.path}`);
        c.header('content-type', asset.contentType);
        c.header('cache-control', 'no-cache');
        c.header('x-content-type-options', 'nosniff');
        if (file.path === '/') {
          c.header('content-security-policy', CONTENT_SECURITY_POLICY);
          c.header('referrer-policy', 'no-referrer');
        }
        return c.body(asset.body as Uint8Array<ArrayBuffer>, 200);
      },
    );
  }
  return router;
}
