/**
 * /v1/docs: the documents API. Create (with a title; the id is generated or
 * chosen by the client), list mine and shared with me (cursor pages), read
 * metadata, rename, delete (with log, snapshots and objects), read content
 * (GET /v1/docs/:id, JSON or plain text, as before the registry existed) and
 * export it (JSON, plain text, Markdown). Members and snapshots have their
 * own routers (doc-members.ts, doc-snapshots.ts), mounted here. Permission
 * checks live in DocumentService; this file maps HTTP to it.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { docContentSchema } from '../../../protocol/doc.ts';
import { parseActorId } from '../../../protocol/ids.ts';
import type { AuthEnv, Principal } from '../../auth/principal.ts';
import type { DocumentService } from '../../documents/document-service.ts';
import { encodeCursor } from '../../documents/document-service.ts';
import { HttpError } from '../errors.ts';
import { createRouter, errorResponses, jsonContent, SECURITY, type Router } from '../router.ts';
import { queryInt, safeText } from '../safe-text.ts';
import { docMembersRoutes } from './doc-members.ts';
import { docIdSchema, docParams, documentJson, documentSchema, titleSchema } from './doc-schemas.ts';
import { docSnapshotsRoutes } from './doc-snapshots.ts';

export interface DocsRoutesDeps {
  readonly service: DocumentService;
  /** Requires credentials and sets `principal` (the accounts module's middleware). */
  readonly authenticate: MiddlewareHandler<AuthEnv>;
}

const createSchema = z
  .object({
    title: titleSchema,
    id: docIdSchema.optional().openapi({ description: 'Omit for a generated id' }),
  })
  .strict()
  .openapi('CreateDocument');
const renameSchema = z.object({ title: titleSchema }).strict().openapi('RenameDocument');
const listQuery = z.object({
  scope: z.enum(['all', 'owned', 'shared']).default('all').openapi({ description: 'owned: created by me; shared: shared with me' }),
  limit: queryInt({ min: 1, max: 100 }).default(20),
  cursor: safeText().min(1).max(200).optional().openapi({ description: 'nextCursor of the previous page' }),
});
const pageSchema = z
  .object({ documents: z.array(documentSchema), nextCursor: z.string().nullable().openapi({ description: 'null on the last page' }) })
  .openapi('DocumentPage');
const contentQuery = z.object({
  format: z.enum(['json', 'text']).optional().openapi({ description: 'text: plain text of a text document (also Accept: text/plain)' }),
});
const exportQuery = z.object({ format: z.enum(['json', 'text', 'markdown']).default('json') });

/** ASCII file name for Content-Disposition, from a title. */
function fileName(title: string, extension: string): string {
  const base = title.replace(/[^A-Za-z0-9 ._-]+/g, '').trim().slice(0, 80) || 'document';
  return `${base}.${extension}`;
}

/** The /v1/docs router. */
export function docsRoutes(deps: DocsRoutesDeps): Router {
  const { service } = deps;
  const router = createRouter();
  const auth = [deps.authenticate];
  // In `open` access mode content reads need no credentials (Config.docAccess).
  const contentAuth = service.membersOnly ? { security: SECURITY, middleware: [deps.authenticate] } : {};
  const contentPrincipal = (c: { get(key: 'principal'): Principal }): Principal | null => (service.membersOnly ? c.get('principal') : null);
  const ctx = (c: { get(key: 'principal'): Principal; get(key: 'clientIp'): string }) => ({ principal: c.get('principal'), ip: c.get('clientIp') });

  router.openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['docs'],
      summary: 'Create a document owned by the caller',
      security: SECURITY,
      middleware: auth,
      request: { body: { required: true, content: { 'application/json': { schema: createSchema } } } },
      responses: { 201: jsonContent(documentSchema, 'Created'), ...errorResponses(400, 401, 403, 409, 429) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const doc = await service.create(ctx(c), { id: body.id, title: body.title });
      return c.json(documentJson(doc), 201);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['docs'],
      summary: 'Documents I own and documents shared with me, newest first',
      security: SECURITY,
      middleware: auth,
      request: { query: listQuery },
      responses: { 200: jsonContent(pageSchema, 'A page'), ...errorResponses(400, 401, 403, 429) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const page = await service.list(c.get('principal'), { scope: q.scope, limit: q.limit, cursor: q.cursor });
      return c.json({ documents: page.items.map(documentJson), nextCursor: page.next === null ? null : encodeCursor(page.next) }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags: ['docs'],
      summary: "A document's content: JSON roots, or plain text of a text document",
      ...contentAuth,
      request: { params: docParams, query: contentQuery },
      responses: {
        200: {
          description: 'The content',
          content: { 'application/json': { schema: docContentSchema }, 'text/plain': { schema: z.string() } },
        },
        ...errorResponses(400, 401, 403, 404, 429, 503),
      },
    }),
    async (c) => {
      const id = parseActorId(c.req.valid('param').id);
      const content = await service.content(contentPrincipal(c), id);
      const wantsText = c.req.valid('query').format === 'text' || (c.req.header('accept') ?? '').startsWith('text/plain');
      if (wantsText) {
        // The code this route has always answered with (before the registry existed).
        if (content.text === null) throw new HttpError(400, 'malformed-message', `document ${id} is not a text document; ask for JSON`, { field: 'format' });
        return c.text(content.text, 200);
      }
      return c.json(content, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/export',
      tags: ['docs'],
      summary: 'Export the content as a file: JSON, plain text, or Markdown (text documents)',
      ...contentAuth,
      request: { params: docParams, query: exportQuery },
      responses: {
        200: {
          description: 'The exported file',
          content: { 'application/json': { schema: docContentSchema }, 'text/plain': { schema: z.string() }, 'text/markdown': { schema: z.string() } },
        },
        ...errorResponses(400, 401, 403, 404, 422, 429, 503),
      },
    }),
    async (c) => {
      const id = parseActorId(c.req.valid('param').id);
      const { format } = c.req.valid('query');
      const principal = contentPrincipal(c);
      const content = await service.content(principal, id);
      const title = principal === null ? id : (await service.get(principal, id)).title;
      if (format === 'json') {
        c.header('Content-Disposition', `attachment; filename="${fileName(title, 'json')}"`);
        return c.json(content, 200);
      }
      const body = format === 'text' ? content.text : (content.markdown ?? null);
      if (body === null) throw new HttpError(422, 'not-a-text-document', `document ${id} has maps or arrays: export it as json`, { field: 'format' });
      c.header('Content-Disposition', `attachment; filename="${fileName(title, format === 'text' ? 'txt' : 'md')}"`);
      c.header('Content-Type', `${format === 'text' ? 'text/plain' : 'text/markdown'}; charset=UTF-8`);
      return c.body(body, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/metadata',
      tags: ['docs'],
      summary: "A document's metadata and the caller's role",
      security: SECURITY,
      middleware: auth,
      request: { params: docParams },
      responses: { 200: jsonContent(documentSchema, 'The document'), ...errorResponses(400, 401, 403, 404, 429) },
    }),
    async (c) => c.json(documentJson(await service.get(c.get('principal'), parseActorId(c.req.valid('param').id))), 200),
  );

  router.openapi(
    createRoute({
      method: 'patch',
      path: '/{id}',
      tags: ['docs'],
      summary: 'Rename a document (editors and owners)',
      security: SECURITY,
      middleware: auth,
      request: { params: docParams, body: { required: true, content: { 'application/json': { schema: renameSchema } } } },
      responses: { 200: jsonContent(documentSchema, 'Renamed'), ...errorResponses(400, 401, 403, 404, 429) },
    }),
    async (c) => {
      const doc = await service.rename(c.get('principal'), parseActorId(c.req.valid('param').id), c.req.valid('json').title);
      return c.json(documentJson(doc), 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'delete',
      path: '/{id}',
      tags: ['docs'],
      summary: 'Delete a document with its log, snapshots and objects (owners)',
      security: SECURITY,
      middleware: auth,
      request: { params: docParams },
      responses: { 204: { description: 'Deleted' }, ...errorResponses(400, 401, 403, 404, 429, 503) },
    }),
    async (c) => {
      await service.delete(ctx(c), parseActorId(c.req.valid('param').id));
      return c.body(null, 204);
    },
  );

  router.route('/', docMembersRoutes({ service, authenticate: deps.authenticate }));
  router.route('/', docSnapshotsRoutes({ service, authenticate: deps.authenticate }));
  return router;
}
