/**
 * Zod schemas of the documents API, shared by its routers: they validate
 * requests and describe them in /openapi.json.
 */
import { z } from '@hono/zod-openapi';
import { parseActorId } from '../../../protocol/ids.ts';
import { DOC_ROLES, type DocumentListing, type MemberRecord } from '../../documents/registry.ts';
import { safeText } from '../safe-text.ts';

/** A document id: 1-200 bytes of text without control characters (any spelling, see PROTOCOL.md §2). */
export const docIdSchema = z
  .string()
  .min(1)
  .refine((v) => {
    try {
      parseActorId(v);
      return true;
    } catch {
      // The schema's own message replaces parseActorId's.
      return false;
    }
  }, 'must be 1-200 bytes of well-formed text without control characters')
  .openapi({ description: 'Document id (URL-encoded in paths)', example: 'team/notes:plan.md' });

export const docParams = z.object({ id: docIdSchema.openapi({ param: { name: 'id', in: 'path' } }) });

export const titleSchema = safeText().trim().min(1).max(200).openapi({ example: 'Launch plan' });

export const docRoleSchema = z.enum(DOC_ROLES).openapi({ description: 'owner: everything; editor: edit, rename, restore; viewer: read only' });

export const documentSchema = z
  .object({
    id: z.string(),
    title: z.string(),
    ownerId: z.string().uuid(),
    role: docRoleSchema.openapi({ description: "The caller's role" }),
    createdAt: z.string().datetime(),
    updatedAt: z.string().datetime(),
  })
  .openapi('Document');

export const memberSchema = z
  .object({ userId: z.string().uuid(), role: docRoleSchema, addedAt: z.string().datetime() })
  .openapi('DocumentMember');

export function documentJson(d: DocumentListing): z.infer<typeof documentSchema> {
  return { id: d.id, title: d.title, ownerId: d.ownerId, role: d.role, createdAt: d.createdAt.toISOString(), updatedAt: d.updatedAt.toISOString() };
}

export function memberJson(m: MemberRecord): z.infer<typeof memberSchema> {
  return { userId: m.userId, role: m.role, addedAt: m.addedAt.toISOString() };
}
