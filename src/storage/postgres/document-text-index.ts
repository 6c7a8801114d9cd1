/**
 * Full-text search over documents (the `document_texts` table): the text a
 * snapshot holds is extracted and stored when the snapshot is saved, and a
 * search finds the live documents a user is a member of whose title or text
 * match, best first, with a highlighted snippet.
 */
import { and, desc, eq, isNull, sql } from 'drizzle-orm';
import * as Y from 'yjs';
import { renderContent } from '../../../actors/document/index.ts';
import type { DocRole } from '../../documents/index.ts';
import type { LoomDatabase } from './database.ts';
import { documentMembers, documents } from './documents-schema.ts';
import { documentTexts } from './document-texts-schema.ts';
import { StorageError } from './storage-error.ts';

/** Characters of a document's text that are indexed (a tsvector holds at most 1 MiB). */
export const MAX_INDEXED_TEXT_CHARS = 200_000;

/** One search hit. */
export interface DocumentSearchHit {
  readonly docId: string;
  readonly title: string;
  readonly role: DocRole;
  /** Text around the matches, matches between « and ». */
  readonly snippet: string;
  readonly rank: number;
  readonly updatedAt: Date;
}

/**
 * The searchable text of a Yjs state: the text and XML roots as plain text,
 * or for other documents the string values of their roots.
 */
export function searchableText(state: Uint8Array): string {
  const doc = new Y.Doc();
  try {
    Y.applyUpdate(doc, state);
    const content = renderContent(doc);
    const text = content.text ?? JSON.stringify(Object.values(content.roots).map((r) => r.value));
    // PostgreSQL text cannot hold NUL.
    return text.slice(0, MAX_INDEXED_TEXT_CHARS).replace(/\u0000/g, ' ');
  } finally {
    doc.destroy();
  }
}

/** Stores a document's text as of snapshot `seq`, unless a newer snapshot's text is there already. */
export async function storeDocumentText(db: Pick<LoomDatabase, 'insert'>, docId: string, seq: number, body: string): Promise<void> {
  await db
    .insert(documentTexts)
    .values({ docId, seq, body })
    .onConflictDoUpdate({
      target: documentTexts.docId,
      set: { body, seq, updatedAt: sql`now()` },
      setWhere: sql`${documentTexts.seq} < ${seq}`,
    });
}

/**
 * The user's live documents matching `query` (web-search syntax: words,
 * "quoted phrases", -excluded, OR), best match first.
 * @throws StorageError when the query fails.
 */
export async function searchDocuments(db: LoomDatabase, userId: string, query: string, limit: number): Promise<DocumentSearchHit[]> {
  const q = sql`websearch_to_tsquery('simple', ${query})`;
  const vector = sql`(to_tsvector('simple', ${documents.title}) || coalesce(${documentTexts.tsv}, ''::tsvector))`;
  const rank = sql<number>`ts_rank(${vector}, ${q})`;
  try {
    const rows = await db
      .select({
        docId: documents.id,
        title: documents.title,
        role: documentMembers.role,
        rank,
        snippet: sql<string>`ts_headline('simple', coalesce(${documentTexts.body}, ''), ${q}, 'MaxWords=35, MinWords=12, StartSel=«, StopSel=»')`,
        updatedAt: documents.updatedAt,
      })
      .from(documentMembers)
      .innerJoin(documents, eq(documents.id, documentMembers.docId))
      .leftJoin(documentTexts, eq(documentTexts.docId, documents.id))
      .where(and(eq(documentMembers.userId, userId), isNull(documents.deletedAt), sql`${vector} @@ ${q}`))
      .orderBy(desc(rank), desc(documents.updatedAt))
      .limit(limit);
    return rows.map((r) => ({ ...r, rank: Number(r.rank), role: r.role as DocRole }));
  } catch (err) {
    throw new StorageError(`searching the documents of user ${userId} failed`, { op: 'search' }, { cause: err });
  }
}
