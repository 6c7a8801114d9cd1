/**
 * /v1/api-keys: a signed-in user creates (the key is in the response, once),
 * lists and revokes their API keys. API keys themselves cannot manage keys
 * (403 `user-required`). Another user's key answers 404, as if absent.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { ApiKeyRecord } from '../../auth/api-key-service.ts';
import type { Auth } from '../../auth/create-auth.ts';
import { requireUser } from '../../auth/middleware.ts';
import { API_SCOPES } from '../../auth/principal.ts';
import { HttpError } from '../errors.ts';
import { createRouter, errorResponses, jsonContent, SECURITY, type Router } from '../router.ts';
import { safeText } from '../safe-text.ts';

const createKeySchema = z
  .object({
    name: safeText().trim().min(1).max(100).openapi({ example: 'ci-exporter' }),
    scopes: z.array(z.enum(API_SCOPES)).min(1).max(API_SCOPES.length).openapi({ example: ['docs:read'] }),
  })
  .strict()
  .openapi('CreateApiKey');
const apiKeySchema = z
  .object({
    id: z.string().uuid(),
    name: z.string(),
    prefix: z.string().openapi({ description: 'First characters of the key, to recognise it' }),
    scopes: z.array(z.enum(API_SCOPES)),
    createdAt: z.string().datetime(),
    lastUsedAt: z.string().datetime().nullable(),
    revokedAt: z.string().datetime().nullable(),
  })
  .openapi('ApiKey');
const createdKeySchema = z
  .object({ key: z.string().openapi({ description: 'The secret: shown only in this response' }), apiKey: apiKeySchema })
  .openapi('CreatedApiKey');
const keyListSchema = z.object({ apiKeys: z.array(apiKeySchema) }).openapi('ApiKeyList');
const keyParams = z.object({ id: z.string().uuid().openapi({ param: { name: 'id', in: 'path' } }) });

const keyJson = (k: ApiKeyRecord) => ({
  id: k.id,
  name: k.name,
  prefix: k.prefix,
  scopes: [...k.scopes],
  createdAt: k.createdAt.toISOString(),
  lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
  revokedAt: k.revokedAt?.toISOString() ?? null,
});

/** The /v1/api-keys router. */
export function apiKeysRoutes(auth: Auth): Router {
  const router = createRouter();

  router.openapi(
    createRoute({
      method: 'post',
      path: '/',
      tags: ['api-keys'],
      summary: 'Create an API key (the secret is returned once)',
      security: SECURITY,
      middleware: [auth.middleware, requireUser()],
      request: { body: { required: true, content: { 'application/json': { schema: createKeySchema } } } },
      responses: { 201: jsonContent(createdKeySchema, 'Created'), ...errorResponses(400, 401, 403, 409, 413, 429) },
    }),
    async (c) => {
      const principal = c.get('principal');
      const created = await auth.apiKeys.create(principal.userId, c.req.valid('json'));
      await auth.audit.record({
        action: 'api-key.create',
        actor: principal,
        targetType: 'api-key',
        targetId: created.record.id,
        ip: c.get('clientIp'),
        detail: { name: created.record.name, prefix: created.record.prefix, scopes: [...created.record.scopes] },
      });
      return c.json({ key: created.key, apiKey: keyJson(created.record) }, 201);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['api-keys'],
      summary: "The caller's API keys, revoked ones included",
      security: SECURITY,
      middleware: [auth.middleware, requireUser()],
      responses: { 200: jsonContent(keyListSchema, 'Keys, newest first'), ...errorResponses(401, 403, 429) },
    }),
    async (c) => c.json({ apiKeys: (await auth.apiKeys.list(c.get('principal').userId)).map(keyJson) }, 200),
  );

  router.openapi(
    createRoute({
      method: 'delete',
      path: '/{id}',
      tags: ['api-keys'],
      summary: 'Revoke an API key; it stops working at once',
      security: SECURITY,
      middleware: [auth.middleware, requireUser()],
      request: { params: keyParams },
      responses: { 204: { description: 'Revoked' }, ...errorResponses(400, 401, 403, 404, 429) },
    }),
    async (c) => {
      const principal = c.get('principal');
      const { id } = c.req.valid('param');
      if (!(await auth.apiKeys.revoke(principal.userId, id))) throw new HttpError(404, 'not-found', 'no such active API key');
      await auth.audit.record({ action: 'api-key.revoke', actor: principal, targetType: 'api-key', targetId: id, ip: c.get('clientIp') });
      return c.body(null, 204);
    },
  );
  return router;
}
