/**
 * /v1/docs/:id/members: list members (any member), share with a user as
 * owner, editor or viewer (owners; PUT adds or changes), unshare (owners, or
 * a member leaving). A removed or downgraded member's open sockets follow
 * within seconds on every gateway (see DocumentService).
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { MiddlewareHandler } from 'hono';
import { parseActorId } from '../../../protocol/ids.ts';
import type { AuthEnv } from '../../auth/principal.ts';
import type { DocumentService } from '../../documents/document-service.ts';
import { createRouter, errorResponses, jsonContent, SECURITY, type Router } from '../router.ts';
import { safeText } from '../safe-text.ts';
import { docIdSchema, docRoleSchema, memberJson, memberSchema } from './doc-schemas.ts';

const memberParams = z.object({
  id: docIdSchema.openapi({ param: { name: 'id', in: 'path' } }),
  userId: z.string().uuid().openapi({ param: { name: 'userId', in: 'path' }, description: 'The user to share with' }),
});
const shareSchema = z.object({ role: docRoleSchema }).strict().openapi('ShareDocument');
const shareByEmailSchema = z
  .object({ email: safeText().trim().min(3).max(320).email(), role: docRoleSchema })
  .strict()
  .openapi('ShareDocumentByEmail');
const membersSchema = z.object({ members: z.array(memberSchema) }).openapi('DocumentMembers');

/** The members routes, mounted by docsRoutes. */
export function docMembersRoutes(deps: { service: DocumentService; authenticate: MiddlewareHandler<AuthEnv> }): Router {
  const { service } = deps;
  const router = createRouter();
  const auth = [deps.authenticate];

  router.openapi(
    createRoute({
      method: 'get',
      path: '/{id}/members',
      tags: ['docs'],
      summary: 'Members of a document, owner first',
      security: SECURITY,
      middleware: auth,
      request: { params: z.object({ id: docIdSchema.openapi({ param: { name: 'id', in: 'path' } }) }) },
      responses: { 200: jsonContent(membersSchema, 'The members'), ...errorResponses(400, 401, 403, 404, 429) },
    }),
    async (c) => {
      const members = await service.members(c.get('principal'), parseActorId(c.req.valid('param').id));
      return c.json({ members: members.map(memberJson) }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'put',
      path: '/{id}/members/{userId}',
      tags: ['docs'],
      summary: 'Share with a user, or change their role (owners)',
      security: SECURITY,
      middleware: auth,
      request: { params: memberParams, body: { required: true, content: { 'application/json': { schema: shareSchema } } } },
      responses: {
        200: jsonContent(memberSchema, 'Role changed'),
        201: jsonContent(memberSchema, 'Shared'),
        ...errorResponses(400, 401, 403, 404, 409, 429),
      },
    }),
    async (c) => {
      const { id, userId } = c.req.valid('param');
      const { role } = c.req.valid('json');
      const { added, member } = await service.share({ principal: c.get('principal'), ip: c.get('clientIp') }, parseActorId(id), userId, role);
      return added ? c.json(memberJson(member), 201) : c.json(memberJson(member), 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'post',
      path: '/{id}/members',
      tags: ['docs'],
      summary: 'Share with the account that uses an email, or change its role (owners)',
      security: SECURITY,
      middleware: auth,
      request: {
        params: z.object({ id: docIdSchema.openapi({ param: { name: 'id', in: 'path' } }) }),
        body: { required: true, content: { 'application/json': { schema: shareByEmailSchema } } },
      },
      responses: {
        200: jsonContent(memberSchema, 'Role changed'),
        201: jsonContent(memberSchema, 'Shared'),
        ...errorResponses(400, 401, 403, 404, 409, 429),
      },
    }),
    async (c) => {
      const { email, role } = c.req.valid('json');
      const { added, member } = await service.shareByEmail({ principal: c.get('principal'), ip: c.get('clientIp') }, parseActorId(c.req.valid('param').id), email, role);
      return added ? c.json(memberJson(member), 201) : c.json(memberJson(member), 200);
    },
  );

  router.openapi(
    createRoute({
      method: 'delete',
      path: '/{id}/members/{userId}',
      tags: ['docs'],
      summary: 'Unshare: remove a member (owners, or the member themself)',
      security: SECURITY,
      middleware: auth,
      request: { params: memberParams },
      responses: { 204: { description: 'Removed; their sockets on the document are closed' }, ...errorResponses(400, 401, 403, 404, 409, 429) },
    }),
    async (c) => {
      const { id, userId } = c.req.valid('param');
      await service.unshare({ principal: c.get('principal'), ip: c.get('clientIp') }, parseActorId(id), userId);
      return c.body(null, 204);
    },
  );

  return router;
}
