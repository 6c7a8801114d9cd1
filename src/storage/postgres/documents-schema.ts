/**
 * The documents registry (issue 4): which documents exist, who owns them and
 * who else may open them. Re-exported from schema.ts, which drizzle-kit
 * reads. PostgreSQL 15 SQL only.
 *
 * - `documents`: one row per document created through the API. `owner_id`
 *   is the creator, who can never be removed or downgraded, so every
 *   document keeps an owner. A deleted document keeps its row with
 *   `deleted_at` set: the tombstone that stops its actor from ever serving
 *   it again, and keeps the id from being reused. `created_at` is written
 *   by the application in whole milliseconds, so list cursors (which carry
 *   a JS Date) compare exactly.
 * - `document_members`: the roles (owner, editor, viewer); the owner has a
 *   row too. Members go with their document or their user.
 */
import { sql } from 'drizzle-orm';
import { check, index, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { users } from './accounts-schema.ts';

const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** Documents known to the API; a document's content lives in its log and snapshots. */
export const documents = pgTable(
  'documents',
  {
    id: text('id').primaryKey(),
    title: text('title').notNull().default(''),
    /** The creator; restricts deleting a user who still owns documents. */
    ownerId: uuid('owner_id')
      .notNull()
      .references(() => users.id),
    createdAt: at('created_at').defaultNow().notNull(),
    updatedAt: at('updated_at').defaultNow().notNull(),
    /** Set when the document was deleted (a tombstone; the row stays). */
    deletedAt: at('deleted_at'),
  },
  (t) => [index('documents_owner_idx').on(t.ownerId)],
);

/** Who may open a document, with which role. */
export const documentMembers = pgTable(
  'document_members',
  {
    docId: text('doc_id')
      .notNull()
      .references(() => documents.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    role: text('role').notNull(),
    createdAt: at('created_at').defaultNow().notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.docId, t.userId] }),
    // "Documents of a user", newest first, is the list endpoint's query.
    index('document_members_user_idx').on(t.userId, t.docId),
    check('document_members_role_check', sql`${t.role} in ('owner', 'editor', 'viewer')`),
  ],
);
