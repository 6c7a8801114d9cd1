/**
 * JobProjection on PostgreSQL (or PGlite): upserts a job's row, its changed
 * step rows and, once failed, its dead letter, in one statement. Each
 * upsert only replaces a row whose `last_seq` is older than the record's,
 * so writes racing from two activations (a stale one being fenced out) or
 * arriving out of order never move a row backwards. Also answers the
 * supervisor's query: jobs that need a live host.
 */
import { and, asc, eq, gt, sql } from 'drizzle-orm';
import type { JobProjection, JobProjectionRecord } from '../../../actors/job/index.ts';
import type { LoomDatabase } from './database.ts';
import { jobDeadLetters, jobs, jobSteps } from './jobs-schema.ts';
import { StorageError } from './storage-error.ts';

/** A job the supervisor may need to resume. */
export interface JobNeedingHost {
  readonly id: string;
  readonly updatedAt: Date;
}

export class PostgresJobProjection implements JobProjection {
  constructor(private readonly db: LoomDatabase) {}

  async save(record: JobProjectionRecord): Promise<void> {
    const j = record.job;
    const iso = (d: Date | null) => (d === null ? null : d.toISOString());
    const json = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));
    const steps = JSON.stringify(
      record.steps.map((s) => ({
        job_id: s.jobId,
        step: s.step,
        activity: s.activity,
        status: s.status,
        attempt: s.attempt,
        error: s.error,
        calls: s.usage.calls,
        prompt_tokens: s.usage.promptTokens,
        completion_tokens: s.usage.completionTokens,
        cost_usd: s.usage.costUsd,
        model_ms: s.usage.modelMs,
        started_at: s.startedAt.toISOString(),
        finished_at: iso(s.finishedAt),
        last_seq: s.lastSeq,
      })),
    );
    const dl = record.deadLetter;
    // One statement, one round trip: the job row, its changed steps (from a JSON array) and the
    // dead letter. Each upsert only replaces a row older than this record (last_seq guard).
    const statement = sql`
      with job as (
        insert into ${jobs} (id, kind, owner_id, idempotency_key, target_doc_id, status, needs_host, last_seq, input, output, error,
          calls, prompt_tokens, completion_tokens, cost_usd, model_ms, duration_ms, created_at, updated_at, finished_at)
        values (${j.id}, ${j.kind}, ${j.owner}, ${j.idempotencyKey}, ${j.targetDocId}, ${j.status}, ${j.needsHost}, ${j.lastSeq},
          ${json(j.input)}::jsonb, ${json(j.output)}::jsonb, ${json(j.error)}::jsonb, ${j.usage.calls}, ${j.usage.promptTokens},
          ${j.usage.completionTokens}, ${j.usage.costUsd}, ${j.usage.modelMs}, ${Math.round(j.usage.durationMs)},
          ${j.createdAt.toISOString()}::timestamptz, ${j.updatedAt.toISOString()}::timestamptz, ${iso(j.finishedAt)}::timestamptz)
        on conflict (id) do update set
          idempotency_key = excluded.idempotency_key, target_doc_id = excluded.target_doc_id, status = excluded.status,
          needs_host = excluded.needs_host, last_seq = excluded.last_seq, input = excluded.input, output = excluded.output,
          error = excluded.error, calls = excluded.calls, prompt_tokens = excluded.prompt_tokens,
          completion_tokens = excluded.completion_tokens, cost_usd = excluded.cost_usd, model_ms = excluded.model_ms,
          duration_ms = excluded.duration_ms, updated_at = excluded.updated_at, finished_at = excluded.finished_at
        where ${jobs}.last_seq < excluded.last_seq
        returning 1
      ),
      steps as (
        insert into ${jobSteps} (job_id, step, activity, status, attempt, error, calls, prompt_tokens, completion_tokens,
          cost_usd, model_ms, started_at, finished_at, last_seq)
        select job_id, step, activity, status, attempt, error, calls, prompt_tokens, completion_tokens, cost_usd, model_ms,
          started_at, finished_at, last_seq
        from jsonb_to_recordset(${steps}::jsonb) as x(job_id text, step text, activity text, status text, attempt integer,
          error jsonb, calls integer, prompt_tokens bigint, completion_tokens bigint, cost_usd double precision,
          model_ms double precision, started_at timestamptz, finished_at timestamptz, last_seq bigint)
        on conflict (job_id, step) do update set
          activity = excluded.activity, status = excluded.status, attempt = excluded.attempt, error = excluded.error,
          calls = excluded.calls, prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens,
          cost_usd = excluded.cost_usd, model_ms = excluded.model_ms, started_at = excluded.started_at,
          finished_at = excluded.finished_at, last_seq = excluded.last_seq
        where ${jobSteps}.last_seq < excluded.last_seq
        returning 1
      ),
      dead as (
        insert into ${jobDeadLetters} (job_id, kind, owner_id, step, attempts, error, last_attempt_error, failed_at)
        select ${j.id}, ${j.kind}, ${j.owner}, ${dl?.step ?? null}, ${dl?.attempts ?? 0}, ${json(dl?.error)}::jsonb,
          ${json(dl?.lastAttemptError)}::jsonb, ${iso(dl?.failedAt ?? null)}::timestamptz
        where ${dl !== null}
        on conflict (job_id) do nothing
        returning 1
      )
      select (select count(*) from job) as jobs, (select count(*) from steps) as steps, (select count(*) from dead) as dead`;
    try {
      await this.db.execute(statement);
    } catch (err) {
      throw new StorageError(`projecting job ${JSON.stringify(j.id)} at seq ${j.lastSeq} failed`, { op: 'project-job', seq: j.lastSeq }, { cause: err });
    }
  }

  /**
   * Jobs with work running or retrying, oldest update first, after `after` (paging).
   * @throws StorageError
   */
  async needingHost(limit: number, after?: JobNeedingHost): Promise<JobNeedingHost[]> {
    try {
      const where = after === undefined ? eq(jobs.needsHost, true) : and(eq(jobs.needsHost, true), gt(jobs.updatedAt, after.updatedAt));
      return await this.db.select({ id: jobs.id, updatedAt: jobs.updatedAt }).from(jobs).where(where).orderBy(asc(jobs.updatedAt)).limit(limit);
    } catch (err) {
      throw new StorageError('listing jobs that need a host failed', { op: 'jobs-needing-host' }, { cause: err });
    }
  }
}
