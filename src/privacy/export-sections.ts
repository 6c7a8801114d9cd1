/**
 * The rows of each section of an account export, read page by page (keyset
 * pagination), so an account of any size is exported in bounded memory.
 * Secrets never appear: no password hash, no refresh-token or API key hash.
 */
import { and, asc, desc, eq, gt, lt, max, min, or, sql } from 'drizzle-orm';
import { agentSessions, auditLog, jobs, refreshTokens, uploads, type LoomDatabase } from '../storage/index.ts';

/** Rows per query. */
export const EXPORT_PAGE = 50;

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

/** Login sessions (refresh-token families), oldest first. */
export async function* sessionRows(db: LoomDatabase, userId: string): AsyncGenerator<Record<string, unknown>> {
  let after = '';
  for (;;) {
    const t = refreshTokens;
    const page = await db
      .select({
        sessionId: t.familyId,
        startedAt: min(t.createdAt),
        lastRefreshedAt: max(t.createdAt),
        expiresAt: max(t.expiresAt),
        revokedAt: max(t.revokedAt),
        tokensIssued: sql<number>`count(*)::int`,
      })
      .from(t)
      .where(and(eq(t.userId, userId), gt(t.familyId, sql`${after === '' ? '00000000-0000-0000-0000-000000000000' : after}::uuid`)))
      .groupBy(t.familyId)
      .orderBy(asc(t.familyId))
      .limit(EXPORT_PAGE);
    for (const s of page) {
      yield { ...s, startedAt: iso(s.startedAt), lastRefreshedAt: iso(s.lastRefreshedAt), expiresAt: iso(s.expiresAt), revokedAt: iso(s.revokedAt) };
    }
    const last = page[page.length - 1];
    if (page.length < EXPORT_PAGE || last === undefined) return;
    after = last.sessionId;
  }
}

/** Uploads, newest first (metadata; the bytes stay in object storage). */
export async function* uploadRows(db: LoomDatabase, userId: string): AsyncGenerator<Record<string, unknown>> {
  let cursor: { createdAt: Date; id: string } | undefined;
  for (;;) {
    const u = uploads;
    const older = cursor === undefined ? undefined : or(lt(u.createdAt, cursor.createdAt), and(eq(u.createdAt, cursor.createdAt), lt(u.id, cursor.id)));
    const page = await db.select().from(u).where(and(eq(u.ownerId, userId), older)).orderBy(desc(u.createdAt), desc(u.id)).limit(EXPORT_PAGE);
    for (const r of page) {
      yield {
        id: r.id,
        filename: r.filename,
        contentType: r.contentType,
        size: r.size,
        status: r.status,
        rejection: r.rejection,
        createdAt: iso(r.createdAt),
        completedAt: iso(r.completedAt),
      };
    }
    const last = page[page.length - 1];
    if (page.length < EXPORT_PAGE || last === undefined) return;
    cursor = { createdAt: last.createdAt, id: last.id };
  }
}

/** A table of things a user owns, keyed by a text id, with a creation time (jobs, agent sessions). */
interface OwnedTable {
  readonly table: typeof jobs | typeof agentSessions;
  readonly id: typeof jobs.id | typeof agentSessions.id;
  readonly ownerId: typeof jobs.ownerId | typeof agentSessions.ownerId;
  readonly createdAt: typeof jobs.createdAt | typeof agentSessions.createdAt;
}

/** Ids of the user's rows in `t`, newest first, a page at a time. */
async function* ownedIds(db: LoomDatabase, t: OwnedTable, userId: string): AsyncGenerator<string> {
  let cursor: { createdAt: Date; id: string } | undefined;
  for (;;) {
    const older = cursor === undefined ? undefined : or(lt(t.createdAt, cursor.createdAt), and(eq(t.createdAt, cursor.createdAt), lt(t.id, cursor.id)));
    const page = await db
      .select({ id: t.id, createdAt: t.createdAt })
      .from(t.table)
      .where(and(eq(t.ownerId, userId), older))
      .orderBy(desc(t.createdAt), desc(t.id))
      .limit(EXPORT_PAGE);
    for (const r of page) yield r.id;
    const last = page[page.length - 1];
    if (page.length < EXPORT_PAGE || last === undefined) return;
    cursor = last;
  }
}

/** Ids of the user's jobs, newest first. */
export function jobIds(db: LoomDatabase, userId: string): AsyncGenerator<string> {
  return ownedIds(db, { table: jobs, id: jobs.id, ownerId: jobs.ownerId, createdAt: jobs.createdAt }, userId);
}

/** Ids of the user's agent sessions, newest first. */
export function agentSessionIds(db: LoomDatabase, userId: string): AsyncGenerator<string> {
  const t = agentSessions;
  return ownedIds(db, { table: t, id: t.id, ownerId: t.ownerId, createdAt: t.createdAt }, userId);
}

/** Audit entries the user made or that are about their account, newest first. */
export async function* auditRows(db: LoomDatabase, userId: string): AsyncGenerator<Record<string, unknown>> {
  let before: number | undefined;
  for (;;) {
    const a = auditLog;
    const about = or(eq(a.actorUserId, userId), and(eq(a.targetType, 'user'), eq(a.targetId, userId)));
    const page = await db
      .select()
      .from(a)
      .where(and(about, before === undefined ? undefined : lt(a.id, before)))
      .orderBy(desc(a.id))
      .limit(EXPORT_PAGE);
    for (const e of page) {
      yield { id: e.id, at: e.at.toISOString(), action: e.action, actorUserId: e.actorUserId, actorKeyId: e.actorKeyId, targetType: e.targetType, targetId: e.targetId, ip: e.ip, detail: e.detail };
    }
    const last = page[page.length - 1];
    if (page.length < EXPORT_PAGE || last === undefined) return;
    before = last.id;
  }
}
