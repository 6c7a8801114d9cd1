/**
 * The drizzle schema of Loom's PostgreSQL database, the source drizzle-kit
 * reads to generate `migrations/`. It must stay within what PostgreSQL 15
 * accepts: PGlite embeds a newer server and would let PG 16+ features slip
 * through unnoticed. `doc_snapshots` holds full Yjs states written by
 * compaction, keyed by document and the log seq they cover; the documents
 * registry (owners, members, tombstones) is in documents-schema.ts.
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
    /** Who wrote what in `state` (actors/document/attribution-record.ts); null in snapshots older than attribution. */
    attribution: bytea('attribution'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).defaultNow().notNull(),
  },
  // The primary key's btree also serves "newest seq of a document" (backward scan).
  (t) => [primaryKey({ columns: [t.docId, t.seq] })],
);

// The documents registry (owners, members, tombstones) lives in its own file.
export { documentMembers, documents } from './documents-schema.ts';

// Accounts, credentials and the audit log live in their own file.
export { apiKeys, auditLog, refreshTokens, users } from './accounts-schema.ts';

// Uploads for job inputs live in their own file.
export { uploads } from './uploads-schema.ts';

// The job projection (jobs, steps, dead letters) lives in its own file.
export { jobDeadLetters, jobs, jobSteps } from './jobs-schema.ts';

// The agent-session projection lives in its own file.
export { agentSessions } from './agent-sessions-schema.ts';

// Document text for full-text search (agents' doc_search) lives in its own file.
export { documentTexts } from './document-texts-schema.ts';

// The outbox of outbound events recorded with PostgreSQL facts lives in its own file.
export { outboundOutbox } from './outbound-outbox-schema.ts';

// Webhook endpoints and their deliveries live in their own file.
export { webhookDeliveries, webhookEndpoints, webhookIntake } from './webhooks-schema.ts';

// Pipeline definitions registered over HTTP live in their own file.
export { pipelineDefinitions } from './pipelines-schema.ts';
