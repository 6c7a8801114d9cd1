/**
 * JobProjection on PostgreSQL (or PGlite): upserts jobs' rows, their changed
 * step rows and, once failed, their dead letters. Each upsert only replaces
 * a row whose `last_seq` is older than the record's, so writes racing from
 * two activations (a stale one being fenced out) or arriving out of order
 * never move a row backwards. Also answers the supervisor's query: jobs that
 * need a live host.
 *
 * Writes of all the jobs of a host are coalesced: the records saved while
 * one statement runs go out together as the next one (the newest job row
 * and step rows per job), so under load a host makes a few statements per
 * second instead of one per job and state change (coalesced-writes.ts).
 */
import { and, asc, eq, gt, sql } from 'drizzle-orm';
import type { JobProjection, JobProjectionRecord } from '../../../actors/job/index.ts';
import type { LoomDatabase } from './database.ts';
import { jobDeadLetters, jobs, jobSteps } from './jobs-schema.ts';
import { CoalescedWrites } from './coalesced-writes.ts';
import { StorageError } from './storage-error.ts';
import { toStorableJson } from '../../../protocol/storable-json.ts';

/** A job the supervisor may need to resume. */
export interface JobNeedingHost {
  readonly id: string;
  readonly updatedAt: Date;
}

type StepRecord = JobProjectionRecord['steps'][number];

/** What is pending for one job: its newest row, the newest row of each step saved, its dead letter. */
interface JobWrite {
  readonly job: JobProjectionRecord['job'];
  readonly steps: ReadonlyMap<string, StepRecord>;
  readonly deadLetter: JobProjectionRecord['deadLetter'];
}

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

function writeOf(r: JobProjectionRecord): JobWrite {
  return { job: r.job, steps: new Map(r.steps.map((s) => [s.step, s])), deadLetter: r.deadLetter };
}

/** The newest of each part: a later save of the same job may carry other steps than an earlier one. */
function merge(pending: JobWrite, saved: JobWrite): JobWrite {
  const steps = new Map(pending.steps);
  for (const s of saved.steps.values()) {
    const known = steps.get(s.step);
    if (known === undefined || s.lastSeq >= known.lastSeq) steps.set(s.step, s);
  }
  return { job: saved.job.lastSeq >= pending.job.lastSeq ? saved.job : pending.job, steps, deadLetter: pending.deadLetter ?? saved.deadLetter };
}

function jobRow(j: JobProjectionRecord['job']) {
  return {
    id: j.id,
    kind: j.kind,
    owner_id: j.owner,
    idempotency_key: j.idempotencyKey,
    target_doc_id: j.targetDocId,
    status: j.status,
    needs_host: j.needsHost,
    last_seq: j.lastSeq,
    // Free values from models and workers: a NUL in one of them would freeze the row (toStorableJson).
    input: toStorableJson(j.input ?? null),
    output: toStorableJson(j.output ?? null),
    error: toStorableJson(j.error),
    calls: j.usage.calls,
    prompt_tokens: j.usage.promptTokens,
    completion_tokens: j.usage.completionTokens,
    cost_usd: j.usage.costUsd,
    model_ms: j.usage.modelMs,
    duration_ms: Math.round(j.usage.durationMs),
    created_at: j.createdAt.toISOString(),
    updated_at: j.updatedAt.toISOString(),
    finished_at: iso(j.finishedAt),
  };
}

function stepRow(s: StepRecord) {
  return {
    job_id: s.jobId,
    step: s.step,
    activity: s.activity,
    status: s.status,
    attempt: s.attempt,
    error: toStorableJson(s.error),
    calls: s.usage.calls,
    prompt_tokens: s.usage.promptTokens,
    completion_tokens: s.usage.completionTokens,
    cost_usd: s.usage.costUsd,
    model_ms: s.usage.modelMs,
    started_at: s.startedAt.toISOString(),
    finished_at: iso(s.finishedAt),
    last_seq: s.lastSeq,
  };
}

function deadLetterRow(d: NonNullable<JobProjectionRecord['deadLetter']>) {
  return {
    job_id: d.jobId,
    kind: d.kind,
    owner_id: d.owner,
    step: d.step,
    attempts: d.attempts,
    error: toStorableJson(d.error),
    last_attempt_error: toStorableJson(d.lastAttemptError),
    failed_at: d.failedAt.toISOString(),
  };
}

export class PostgresJobProjection implements JobProjection {
  readonly #writes = new CoalescedWrites<JobWrite>((batch) => this.#write(batch), merge);

  constructor(private readonly db: LoomDatabase) {}

  /**
   * Resolves once the record (or a newer one of the same job) is written.
   * @throws StorageError
   */
  save(record: JobProjectionRecord): Promise<void> {
    return this.#writes.save(record.job.id, writeOf(record));
  }

  /** Upserts the batch's job rows, step rows (from JSON arrays) and dead letters in one round trip. */
  async #write(batch: JobWrite[]): Promise<void> {
    const jobRows = JSON.stringify(batch.map((p) => jobRow(p.job)));
    const stepRows = JSON.stringify(batch.flatMap((p) => [...p.steps.values()].sort((a, b) => (a.step < b.step ? -1 : 1)).map(stepRow)));
    const deadRows = JSON.stringify(batch.flatMap((p) => (p.deadLetter === null ? [] : [deadLetterRow(p.deadLetter)])));
    const statement = sql`
      with job as (
        insert into ${jobs} (id, kind, owner_id, idempotency_key, target_doc_id, status, needs_host, last_seq, input, output, error,
          calls, prompt_tokens, completion_tokens, cost_usd, model_ms, duration_ms, created_at, updated_at, finished_at)
        select id, kind, owner_id, idempotency_key, target_doc_id, status, needs_host, last_seq, input, output, error,
          calls, prompt_tokens, completion_tokens, cost_usd, model_ms, duration_ms, created_at, updated_at, finished_at
        from jsonb_to_recordset(${jobRows}::jsonb) as x(id text, kind text, owner_id text, idempotency_key text, target_doc_id text,
          status text, needs_host boolean, last_seq bigint, input jsonb, output jsonb, error jsonb, calls integer, prompt_tokens bigint,
          completion_tokens bigint, cost_usd double precision, model_ms double precision, duration_ms bigint, created_at timestamptz,
          updated_at timestamptz, finished_at timestamptz)
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
        from jsonb_to_recordset(${stepRows}::jsonb) as x(job_id text, step text, activity text, status text, attempt integer,
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
        select job_id, kind, owner_id, step, attempts, error, last_attempt_error, failed_at
        from jsonb_to_recordset(${deadRows}::jsonb) as x(job_id text, kind text, owner_id text, step text, attempts integer,
          error jsonb, last_attempt_error jsonb, failed_at timestamptz)
        on conflict (job_id) do nothing
        returning 1
      )
      select (select count(*) from job) as jobs, (select count(*) from steps) as steps, (select count(*) from dead) as dead`;
    try {
      await this.db.execute(statement);
    } catch (err) {
      const first = batch[0]?.job;
      const what = batch.length === 1 && first !== undefined ? `job ${JSON.stringify(first.id)} at seq ${first.lastSeq}` : `${batch.length} jobs from ${JSON.stringify(first?.id)}`;
      throw new StorageError(`projecting ${what} failed`, { op: 'project-job', ...(batch.length === 1 && first !== undefined ? { seq: first.lastSeq } : {}) }, { cause: err });
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
