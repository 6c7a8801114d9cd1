/** DocAudience on PostgreSQL: the members of a registered document that is not deleted (the owner has a member row too). */
import { and, eq, isNull } from 'drizzle-orm';
import { documentMembers, documents, type LoomDatabase } from '../storage/index.ts';
import type { DocAudience } from './doc-update-source.ts';

/** At most this many recipients per event (the contract's ownerIds bound). */
const MAX_RECIPIENTS = 1_000;

export class PostgresDocAudience implements DocAudience {
  constructor(private readonly db: LoomDatabase) {}

  async recipients(docId: string): Promise<string[]> {
    const rows = await this.db
      .select({ userId: documentMembers.userId })
      .from(documentMembers)
      .innerJoin(documents, eq(documents.id, documentMembers.docId))
      .where(and(eq(documentMembers.docId, docId), isNull(documents.deletedAt)))
      .orderBy(documentMembers.createdAt)
      .limit(MAX_RECIPIENTS);
    return rows.map((r) => r.userId);
  }
}
