/**
 * GET /v1/audit?targetType=…&targetId=…: the audit entries about one
 * resource, newest first, for its owner only. Who owns what is answered by
 * one {@link OwnershipCheck} per target type: users and API keys are built
 * in (`defaultOwnershipChecks`); the documents module supplies `doc`, the
 * jobs module `job`. A type without a check answers 400.
 */
import { createRoute, z } from '@hono/zod-openapi';
import { AUDIT_TARGET_TYPES, type AuditEntry, type AuditTargetType } from '../../auth/audit-log.ts';
import type { Auth } from '../../auth/create-auth.ts';
import { requireUser } from '../../auth/middleware.ts';
import type { Principal } from '../../auth/principal.ts';
import { HttpError } from '../errors.ts';
import { createRouter, errorResponses, jsonContent, SECURITY, type Router } from '../router.ts';
import { queryInt, safeText } from '../safe-text.ts';

/**
 * Whether `principal` owns the target: `owner` lists its audit entries,
 * `forbidden` answers 403 (the caller may know it exists), `not-found` 404.
 */
export type OwnershipCheck = (principal: Principal, targetId: string) => Promise<'owner' | 'forbidden' | 'not-found'>;
/** Ownership checks by target type; a type without one cannot be queried (400). */
export type OwnershipChecks = Partial<Record<AuditTargetType, OwnershipCheck>>;

/** Checks for the targets the accounts module owns: a user (only themselves) and API keys (their owner). */
export function defaultOwnershipChecks(auth: Auth): OwnershipChecks {
  return {
    user: (principal, targetId) => Promise.resolve(principal.userId === targetId ? 'owner' : 'forbidden'),
    'api-key': async (principal, targetId) => {
      const owner = await auth.apiKeys.ownerOf(targetId);
      return owner !== null && owner === principal.userId ? 'owner' : 'not-found';
    },
  };
}

const querySchema = z.object({
  targetType: z.enum(AUDIT_TARGET_TYPES),
  targetId: safeText().min(1).max(1_024),
  limit: queryInt({ min: 1, max: 200 }).default(50),
  before: queryInt({ min: 1, max: Number.MAX_SAFE_INTEGER }).optional().openapi({ description: 'Cursor: nextBefore of the previous page' }),
});
const entrySchema = z
  .object({
    id: z.number().int(),
    at: z.string().datetime(),
    action: z.string(),
    actorUserId: z.string().nullable(),
    actorKeyId: z.string().nullable(),
    targetType: z.string(),
    targetId: z.string().nullable(),
    ip: z.string().nullable(),
    detail: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi('AuditEntry');
const pageSchema = z
  .object({ entries: z.array(entrySchema), nextBefore: z.number().int().nullable().openapi({ description: 'Pass as `before` for older entries; null at the end' }) })
  .openapi('AuditPage');

const entryJson = (e: AuditEntry) => ({ ...e, at: e.at.toISOString() });

/** The /v1/audit router; `owners` maps target types to their ownership checks. */
export function auditRoutes(auth: Auth, owners: OwnershipChecks): Router {
  const router = createRouter();
  router.openapi(
    createRoute({
      method: 'get',
      path: '/',
      tags: ['audit'],
      summary: 'Audit entries about a resource the caller owns, newest first',
      security: SECURITY,
      middleware: [auth.middleware, requireUser()],
      request: { query: querySchema },
      responses: { 200: jsonContent(pageSchema, 'One page of entries'), ...errorResponses(400, 401, 403, 404, 429) },
    }),
    async (c) => {
      const query = c.req.valid('query');
      const check = owners[query.targetType];
      if (check === undefined) {
        throw new HttpError(400, 'invalid-request', `the audit of ${query.targetType} targets is not available`, { field: 'targetType' });
      }
      const verdict = await check(c.get('principal'), query.targetId);
      if (verdict === 'forbidden') throw new HttpError(403, 'forbidden', `only the owner may read the audit of this ${query.targetType}`);
      if (verdict === 'not-found') throw new HttpError(404, 'not-found', `no such ${query.targetType}`);
      const entries = await auth.audit.list({ targetType: query.targetType, targetId: query.targetId, limit: query.limit, beforeId: query.before });
      const last = entries.at(-1);
      return c.json({ entries: entries.map(entryJson), nextBefore: entries.length === query.limit && last !== undefined ? last.id : null }, 200);
    },
  );
  return router;
}
