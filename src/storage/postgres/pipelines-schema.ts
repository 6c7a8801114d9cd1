/**
 * Pipeline definitions registered over HTTP (issue 8): one row per version,
 * immutable once written. Re-exported from schema.ts, which drizzle-kit
 * reads. PostgreSQL 15 SQL only. `owner_id` is text, like jobs.owner_id.
 *
 * A user's kinds are theirs alone: the key is (owner, kind, version), and
 * versions count from 1 per owner and kind. The primary key's btree also
 * serves "latest version of a kind" (backward scan) and the owner's list of
 * kinds. Built-in kinds ship with Loom as files and are never stored here.
 */
import { check, integer, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';
import { sql } from 'drizzle-orm';

export const pipelineDefinitions = pgTable(
  'pipeline_definitions',
  {
    ownerId: text('owner_id').notNull(),
    kind: text('kind').notNull(),
    version: integer('version').notNull(),
    /** The definition as validated (protocol/pipeline-definition.ts), JSON. */
    definition: jsonb('definition').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).defaultNow().notNull(),
  },
  (t) => [primaryKey({ columns: [t.ownerId, t.kind, t.version] }), check('pipeline_definitions_version_check', sql`${t.version} >= 1`)],
);
