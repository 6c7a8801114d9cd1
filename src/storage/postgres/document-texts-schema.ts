/**
 * The text of each document as of its latest snapshot, for full-text search
 * (the agents' `doc_search`). The snapshot store refreshes a document's row
 * in the transaction that saves the snapshot, so search sees what the
 * latest snapshot holds: edits since then become searchable at the next
 * compaction (every N updates or bytes, and on passivation). No foreign key
 * to `documents`: in `open` access mode documents exist without a registry
 * row; searches join through the registry, so those are never found.
 * `tsv` uses the `simple` configuration (no stemming): documents are in any
 * language, and a language-neutral index never stems a word wrongly.
 */
import { sql } from 'drizzle-orm';
import { bigint, customType, index, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

const tsvector = customType<{ data: string }>({
  dataType() {
    return 'tsvector';
  },
});

export const documentTexts = pgTable(
  'document_texts',
  {
    docId: text('doc_id').primaryKey(),
    /** Plain text of the document's text and XML roots (cut at MAX_INDEXED_TEXT_CHARS). */
    body: text('body').notNull(),
    tsv: tsvector('tsv')
      .notNull()
      .generatedAlwaysAs(sql`to_tsvector('simple', "body")`),
    /** The snapshot seq the text comes from. */
    seq: bigint('seq', { mode: 'number' }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).defaultNow().notNull(),
  },
  (t) => [index('document_texts_tsv_idx').using('gin', t.tsv)],
);
