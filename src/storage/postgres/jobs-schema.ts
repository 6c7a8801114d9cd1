/**
 * The job projection (issue 3): rows derived from each job's event log
 * (JetStream LOOM_JOB_LOG), for queries. The log is the truth; these tables
 * can be dropped and rebuilt by replaying it. Every row carries the log
 * sequence it reflects (`last_seq`) and writes never replace a row with an
 * older one. Re-exported from schema.ts, which drizzle-kit reads.
 * PostgreSQL 15 SQL only. `owner_id` is text, not a foreign key: internal
 * services start jobs for owners that are not users.
 *
 * - `jobs`: one row per job: kind, owner, status, usage totals, input/output.
 *   `needs_host` marks jobs with work running or retrying: the supervisor
 *   resumes those whose host died (partial index).
 * - `job_steps`: one row per started step, with attempts and usage.
 * - `job_dead_letters`: one row per failed job, with the cause.
 */
import { sql } from 'drizzle-orm';
import { bigint, boolean, check, doublePrecision, index, integer, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const jobs = pgTable(
  'jobs',
  {
    id: text('id').primaryKey(),
    kind: text('kind').notNull(),
    ownerId: text('owner_id').notNull(),
    idempotencyKey: text('idempotency_key'),
    targetDocId: text('target_doc_id'),
    status: text('status').notNull(),
    needsHost: boolean('needs_host').notNull(),
    lastSeq: bigint('last_seq', { mode: 'number' }).notNull(),
    input: jsonb('input'),
    output: jsonb('output'),
    error: jsonb('error'),
    calls: integer('calls').notNull().default(0),
    promptTokens: bigint('prompt_tokens', { mode: 'number' }).notNull().default(0),
    completionTokens: bigint('completion_tokens', { mode: 'number' }).notNull().default(0),
    costUsd: doublePrecision('cost_usd').notNull().default(0),
    modelMs: doublePrecision('model_ms').notNull().default(0),
    durationMs: bigint('duration_ms', { mode: 'number' }).notNull().default(0),
    createdAt: at('created_at').notNull(),
    updatedAt: at('updated_at').notNull(),
    finishedAt: at('finished_at'),
    /** Set by the retention purge (src/privacy/) once the job's artifacts were deleted; the projection never writes it. */
    artifactsPurgedAt: at('artifacts_purged_at'),
  },
  (t) => [
    index('jobs_owner_created_idx').on(t.ownerId, t.createdAt),
    // GET /v1/jobs filtered by kind or by status: keyset pages, newest first, within one owner.
    index('jobs_owner_kind_created_idx').on(t.ownerId, t.kind, t.createdAt, t.id),
    index('jobs_owner_status_created_idx').on(t.ownerId, t.status, t.createdAt, t.id),
    // The retention purge looks for finished jobs by age.
    index('jobs_finished_idx').on(t.finishedAt).where(sql`${t.finishedAt} is not null`),
    index('jobs_needs_host_idx').on(t.updatedAt).where(sql`${t.needsHost}`),
    check('jobs_status_check', sql`${t.status} in ('pending', 'running', 'waiting-approval', 'succeeded', 'failed', 'cancelled', 'rejected')`),
  ],
);

export const jobSteps = pgTable(
  'job_steps',
  {
    jobId: text('job_id')
      .notNull()
      .references(() => jobs.id, { onDelete: 'cascade' }),
    step: text('step').notNull(),
    activity: text('activity').notNull(),
    status: text('status').notNull(),
    attempt: integer('attempt').notNull(),
    error: jsonb('error'),
    calls: integer('calls').notNull().default(0),
    promptTokens: bigint('prompt_tokens', { mode: 'number' }).notNull().default(0),
    completionTokens: bigint('completion_tokens', { mode: 'number' }).notNull().default(0),
    costUsd: doublePrecision('cost_usd').notNull().default(0),
    modelMs: doublePrecision('model_ms').notNull().default(0),
    startedAt: at('started_at').notNull(),
    finishedAt: at('finished_at'),
    lastSeq: bigint('last_seq', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ columns: [t.jobId, t.step] })],
);

export const jobDeadLetters = pgTable('job_dead_letters', {
  jobId: text('job_id')
    .primaryKey()
    .references(() => jobs.id, { onDelete: 'cascade' }),
  kind: text('kind').notNull(),
  ownerId: text('owner_id').notNull(),
  step: text('step'),
  attempts: integer('attempts').notNull(),
  /** `{ code, message }` of the job's failure. */
  error: jsonb('error').notNull(),
  /** The failing step's last attempt error. */
  lastAttemptError: jsonb('last_attempt_error'),
  failedAt: at('failed_at').notNull(),
  recordedAt: at('recorded_at').defaultNow().notNull(),
});
