/**
 * /v1/docs/:id/snapshots: the stored versions of a document (compaction
 * keeps the newest few), and restoring one as a new version. A restore is
 * one Yjs update computed and applied by the document's actor: connected
 * clients receive it like any edit and converge to the snapshot's content,
 * and the history stays append-only.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { parseActorId } from '../../../protocol/ids.ts';
import type { AuthEnv } from '../../auth/principal.ts';
import type { DocumentService } from '../../documents/document-service.ts';
import { createRouter, errorResponses, jsonContent, SECURITY, type Router } from '../router.ts';
import { queryInt } from '../safe-text.ts';
import { docIdSchema } from './doc-schemas.ts';

const snapshotSchema = z
  .object({
    seq: z.number().int().positive().openapi({ description: 'The log sequence the snapshot covers; restore by it' }),
    bytes: z.number().int().nonnegative(),
    createdAt: z.string().datetime(),
  })
  .openapi('DocumentSnapshot');
const listSchema = z.object({ snapshots: z.array(snapshotSchema) }).openapi('DocumentSnapshots');
const restoredSchema = z
  .object({
    seq: z.number().int().nonnegative().openapi({ description: 'Log sequence of the restoring update (the current one when nothing differed)' }),
    restoredFrom: z.number().int().positive(),
    changed: z.boolean().openapi({ description: 'false when the document already equalled the snapshot' }),
  })
  .openapi('RestoredSnapshot');
const idParam = docIdSchema.openapi({ param: { name: 'id', in: 'path' } });

/** The snapshot routes, mounted by docsRoutes. */
export function docSnapshotsRoutes(deps: { service: DocumentService; authenticate: MiddlewareHandler<AuthEnv> }): Router {
  const { service } = deps;
  const router = createRouter();
  const auth = [deps.authenticate];

  router.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/snapshots',
      tags: ['docs'],
      summary: 'Stored versions of a document, newest first',
      security: SECURITY,
      middleware: auth,
      request: { params: z.object({ id: idParam }) },
      responses: { 200: jsonContent(listSchema, 'The snapshots'), ...errorResponses(400, 401, 403, 404, 429) },
    }),
    async (c) => {
      const list = await service.snapshots(c.get('principal'), parseActorId(c.req.valid('param').id));
      return c.json({ snapshots: list.map((s) => ({ seq: s.seq, bytes: s.bytes, createdAt: s.createdAt.toISOString() })) }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/snapshots/{seq}/restore',
      tags: ['docs'],
      summary: 'Make the document equal a snapshot again, as a new version (editors and owners)',
      security: SECURITY,
      middleware: auth,
      request: {
        params: z.object({
          id: idParam,
          seq: queryInt({ min: 1, max: Number.MAX_SAFE_INTEGER }).openapi({ param: { name: 'seq', in: 'path' } }),
        }),
      },
      responses: { 200: jsonContent(restoredSchema, 'Restored'), ...errorResponses(400, 401, 403, 404, 413, 429, 503) },
    }),
    async (c) => {
      const { id, seq } = c.req.valid('param');
      const restored = await service.restore({ principal: c.get('principal'), ip: c.get('clientIp') }, parseActorId(id), seq);
      return c.json(restored, 200);
    },
  );

  return router;
}
