/**
 * DocAudience on PostgreSQL: the members of a registered document that is
 * not deleted (the owner has a member row too), for many documents in one
 * query. The relay closes the windows of every document edited in the same
 * seconds together; one query per document ran them one after another, and
 * on PGlite (in the process, synchronous) that stalled the event loop for
 * tens of milliseconds every debounce period.
 */
import { and, eq, inArray, isNull, lte, sql } from 'drizzle-orm';
import { documentMembers, documents, type LoomDatabase } from '../storage/index.ts';
import type { DocAudience } from './doc-update-source.ts';

/** At most this many recipients per event (the contract's ownerIds bound). */
const MAX_RECIPIENTS = 1_000;
/** Documents per query: keeps the parameter list and the result bounded. */
const DOCS_PER_QUERY = 200;

export class PostgresDocAudience implements DocAudience {
  constructor(private readonly db: LoomDatabase) {}

  async recipientsOf(docIds: readonly string[]): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    const unique = [...new Set(docIds)];
    for (let i = 0; i < unique.length; i += DOCS_PER_QUERY) {
      for (const row of await this.page(unique.slice(i, i + DOCS_PER_QUERY))) {
        const list = out.get(row.docId);
        if (list === undefined) out.set(row.docId, [row.userId]);
        else list.push(row.userId);
      }
    }
    return out;
  }

  /** Each document's first MAX_RECIPIENTS members by joining time, in that order. */
  private page(docIds: readonly string[]) {
    const ranked = this.db
      .select({
        docId: documentMembers.docId,
        userId: documentMembers.userId,
        rank: sql<number>`row_number() over (partition by ${documentMembers.docId} order by ${documentMembers.createdAt}, ${documentMembers.userId})`.as('rank'),
      })
      .from(documentMembers)
      .innerJoin(documents, eq(documents.id, documentMembers.docId))
      .where(and(inArray(documentMembers.docId, [...docIds]), isNull(documents.deletedAt)))
      .as('ranked');
    return this.db
      .select({ docId: ranked.docId, userId: ranked.userId })
      .from(ranked)
      .where(lte(ranked.rank, MAX_RECIPIENTS))
      .orderBy(ranked.docId, ranked.rank);
  }
}
