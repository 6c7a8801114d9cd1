/**
 * `GET /metrics`: the process's registry in the Prometheus text format, on
 * the role's own HTTP port. Open by default (scrapers usually reach it on a
 * private network); with LOOM_METRICS_TOKEN set it wants
 * `Authorization: Bearer <token>` and answers 401 otherwise.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createRoute, z } from '@hono/zod-openapi';
import { HttpError } from '../http/errors.ts';
import { createRouter, errorResponses, type Router } from '../http/router.ts';
import { registry } from './registry.ts';

const digest = (value: string) => createHash('sha256').update(value).digest();

/** @param token the bearer token scrapers must send; undefined = no check. */
export function metricsRouter(opts: { token: string | undefined }): Router {
  const expected = opts.token === undefined ? undefined : digest(opts.token);
  const router = createRouter();
  router.openapi(
    createRoute({
      method: 'get',
      path: '/metrics',
      tags: ['meta'],
      summary: 'Prometheus metrics of this process (every family prefixed loom_)',
      description: 'Needs `Authorization: Bearer <LOOM_METRICS_TOKEN>` when that setting is given.',
      request: { headers: z.object({ authorization: z.string().max(4_096).optional() }) },
      responses: {
        200: { description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: z.string() } } },
        ...errorResponses(401),
      },
    }),
    async (c) => {
      if (expected !== undefined) {
        const header = c.req.valid('header').authorization ?? '';
        const given = header.startsWith('Bearer ') ? header.slice('Bearer '.length) : '';
        // Digests have one length, so the comparison takes the same time whatever was sent.
        if (!timingSafeEqual(digest(given), expected)) throw new HttpError(401, 'unauthorized', 'metrics need Authorization: Bearer <LOOM_METRICS_TOKEN>');
      }
      return c.text(await registry.metrics(), 200, { 'Content-Type': registry.contentType });
    },
  );
  return router;
}
