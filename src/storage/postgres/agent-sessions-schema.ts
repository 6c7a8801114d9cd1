/**
 * The agent-session projection: one row per session, derived from its
 * event log (JetStream LOOM_AGENT_LOG) for queries ("my sessions", newest
 * first). The log is the truth; the table can be dropped and rebuilt by
 * replaying it. `last_seq` guards every write so a row never moves
 * backwards. `needs_host` marks sessions with a turn in flight: the
 * supervisor resumes those whose host died (partial index). PostgreSQL 15
 * SQL only; `owner_id` is text (internal services own sessions too).
 */
import { sql } from 'drizzle-orm';
import { bigint, boolean, check, doublePrecision, index, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const agentSessions = pgTable(
  'agent_sessions',
  {
    id: text('id').primaryKey(),
    ownerId: text('owner_id').notNull(),
    status: text('status').notNull(),
    needsHost: boolean('needs_host').notNull(),
    model: text('model').notNull(),
    docId: text('doc_id'),
    /** The first user message, trimmed: what a list shows. */
    title: text('title'),
    turns: integer('turns').notNull().default(0),
    calls: integer('calls').notNull().default(0),
    promptTokens: bigint('prompt_tokens', { mode: 'number' }).notNull().default(0),
    completionTokens: bigint('completion_tokens', { mode: 'number' }).notNull().default(0),
    costUsd: doublePrecision('cost_usd').notNull().default(0),
    lastSeq: bigint('last_seq', { mode: 'number' }).notNull(),
    createdAt: at('created_at').notNull(),
    updatedAt: at('updated_at').notNull(),
  },
  (t) => [
    // "My sessions, newest first", paged by (created_at, id).
    index('agent_sessions_owner_created_idx').on(t.ownerId, t.createdAt, t.id),
    index('agent_sessions_needs_host_idx').on(t.updatedAt).where(sql`${t.needsHost}`),
    check('agent_sessions_status_check', sql`${t.status} in ('idle', 'running', 'waiting-approval', 'failed')`),
  ],
);
