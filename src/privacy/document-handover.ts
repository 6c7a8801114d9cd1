/**
 * Hands a document from its creator to an heir (heir.ts) when the creator
 * deletes their account: the heir becomes the recorded owner (the creator
 * column) with the owner role, the leaver's membership goes, both in one
 * transaction. Gateways are told, so the leaver's sockets on the document
 * close and the heir's role is re-read.
 */
import { and, eq, isNull } from 'drizzle-orm';
import type { DocId } from '../../protocol/ids.ts';
import type { AccessEvents } from '../documents/index.ts';
import { documentMembers, documents, type LoomDatabase } from '../storage/index.ts';

/**
 * @returns false when the document is no longer the leaver's live document (deleted or handed over meanwhile).
 */
export async function handOverDocument(
  deps: { db: LoomDatabase; accessEvents: AccessEvents },
  doc: { id: DocId; from: string; to: string; at: Date },
): Promise<boolean> {
  const done = await deps.db.transaction(async (tx) => {
    const moved = await tx
      .update(documents)
      .set({ ownerId: doc.to, updatedAt: doc.at })
      .where(and(eq(documents.id, doc.id), eq(documents.ownerId, doc.from), isNull(documents.deletedAt)))
      .returning({ id: documents.id });
    if (moved.length === 0) return false;
    await tx
      .insert(documentMembers)
      .values({ docId: doc.id, userId: doc.to, role: 'owner', createdAt: doc.at })
      .onConflictDoUpdate({ target: [documentMembers.docId, documentMembers.userId], set: { role: 'owner' } });
    await tx.delete(documentMembers).where(and(eq(documentMembers.docId, doc.id), eq(documentMembers.userId, doc.from)));
    return true;
  });
  if (done) {
    deps.accessEvents.publish(doc.id, { change: 'member-removed', userId: doc.from });
    deps.accessEvents.publish(doc.id, { change: 'member-changed', userId: doc.to });
  }
  return done;
}
