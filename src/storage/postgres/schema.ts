/**
 * The drizzle schema of Loom's PostgreSQL database, the source drizzle-kit
 * reads to generate `migrations/`. It must stay within what PostgreSQL 15
 * accepts: PGlite embeds a newer server and would let PG 16+ features slip
 * through unnoticed. `doc_snapshots` holds full Yjs states written by
 * compaction, keyed by document and the log seq they cover; `documents` is a
 * placeholder registry that will grow metadata columns later.
 */
import { bigint, integer, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import { bytea } from './bytea.ts';

/** Full document states; the newest few per document are kept (see PostgresSnapshotStore). */
export const docSnapshots = pgTable(
  'doc_snapshots',
  {
    docId: text('doc_id').notNull(),
    /** Last log seq the state covers; JS numbers are exact up to 2^53. */
    seq: bigint('seq', { mode: 'number' }).notNull(),
    state: bytea('state').notNull(),
    /** state's length in bytes, so sizes can be queried without reading blobs. */
    bytes: integer('bytes').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).defaultNow().notNull(),
  },
  // The primary key's btree also serves "newest seq of a document" (backward scan).
  (t) => [primaryKey({ columns: [t.docId, t.seq] })],
);

/** Known documents; minimal for now. */
export const documents = pgTable('documents', {
  id: text('id').primaryKey(),
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).defaultNow(),
});
