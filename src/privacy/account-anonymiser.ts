/**
 * The last step of an account deletion, in one transaction: the audit log
 * keeps every entry but names the person only by their pseudonym (actor and
 * target ids, ids and email in details) and forgets their IP addresses; the
 * API key and refresh-token rows go (they were revoked first, so sockets
 * were told); tombstones of their deleted documents lose their titles; the
 * account row keeps its id (tombstones and the audit's history refer to it)
 * but gets the pseudonym's email, which frees the old address for a new
 * registration, and an unguessable password hash.
 */
import { and, eq, isNotNull, or, sql } from 'drizzle-orm';
import { apiKeys, auditLog, documentMembers, documents, refreshTokens, users, type LoomDatabase } from '../storage/index.ts';
import type { Pseudonym } from './pseudonym.ts';

export interface Anonymised {
  readonly auditEntries: number;
  readonly apiKeys: number;
  readonly refreshTokens: number;
}

/** A regular expression matching `text` literally (PostgreSQL ARE accepts the same escapes). */
function literalPattern(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export async function anonymiseAccount(
  db: LoomDatabase,
  user: { id: string; email: string },
  pseudonym: Pseudonym,
  passwordHash: string,
): Promise<Anonymised> {
  return db.transaction(async (tx) => {
    const a = auditLog;
    const aboutUser = or(eq(a.actorUserId, user.id), and(eq(a.targetType, 'user'), eq(a.targetId, user.id)));
    // Details are small JSON objects; the email is matched without regard to case, like logins.
    const mentions = or(sql`${a.detail}::text like ${`%${user.id}%`}`, sql`${a.detail}::text ilike ${`%${user.email}%`}`);
    const detail = sql`case when ${a.detail} is null then null
      else regexp_replace(replace(${a.detail}::text, ${user.id}, ${pseudonym.label}), ${literalPattern(user.email)}, ${pseudonym.label}, 'gi')::jsonb end`;
    const audited = await tx
      .update(a)
      .set({
        actorUserId: sql`case when ${a.actorUserId} = ${user.id} then ${pseudonym.id}::uuid else ${a.actorUserId} end`,
        targetId: sql`case when ${a.targetType} = 'user' and ${a.targetId} = ${user.id} then ${pseudonym.id} else ${a.targetId} end`,
        ip: sql`case when ${aboutUser} then null else ${a.ip} end`,
        detail,
      })
      .where(or(aboutUser, mentions))
      .returning({ id: a.id });
    const keys = await tx.delete(apiKeys).where(eq(apiKeys.userId, user.id)).returning({ id: apiKeys.id });
    const tokens = await tx.delete(refreshTokens).where(eq(refreshTokens.userId, user.id)).returning({ id: refreshTokens.id });
    await tx.delete(documentMembers).where(eq(documentMembers.userId, user.id));
    await tx.update(documents).set({ title: '' }).where(and(eq(documents.ownerId, user.id), isNotNull(documents.deletedAt)));
    await tx.update(users).set({ email: pseudonym.email, passwordHash }).where(eq(users.id, user.id));
    return { auditEntries: audited.length, apiKeys: keys.length, refreshTokens: tokens.length };
  });
}
