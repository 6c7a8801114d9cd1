/**
 * JobProjection on PostgreSQL (or PGlite): upserts a job's row, its changed
 * step rows and, once failed, its dead letter, in one transaction. Each
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
    const row = {
      id: j.id,
      kind: j.kind,
      ownerId: j.owner,
      idempotencyKey: j.idempotencyKey,
      targetDocId: j.targetDocId,
      status: j.status,
      needsHost: j.needsHost,
      lastSeq: j.lastSeq,
      input: j.input ?? null,
      output: j.output ?? null,
      error: j.error,
      calls: j.usage.calls,
      promptTokens: j.usage.promptTokens,
      completionTokens: j.usage.completionTokens,
      costUsd: j.usage.costUsd,
      modelMs: j.usage.modelMs,
      durationMs: Math.round(j.usage.durationMs),
      createdAt: j.createdAt,
      updatedAt: j.updatedAt,
      finishedAt: j.finishedAt,
    };
    try {
      await this.db.transaction(async (tx) => {
        const { id: _id, createdAt: _created, kind: _kind, ownerId: _owner, ...changing } = row;
        await tx
          .insert(jobs)
          .values(row)
          .onConflictDoUpdate({ target: jobs.id, set: changing, setWhere: sql`${jobs.lastSeq} < ${j.lastSeq}` });
        for (const s of record.steps) {
          const stepRow = {
            jobId: s.jobId,
            step: s.step,
            activity: s.activity,
            status: s.status,
            attempt: s.attempt,
            error: s.error,
            calls: s.usage.calls,
            promptTokens: s.usage.promptTokens,
            completionTokens: s.usage.completionTokens,
            costUsd: s.usage.costUsd,
            modelMs: s.usage.modelMs,
            startedAt: s.startedAt,
            finishedAt: s.finishedAt,
            lastSeq: s.lastSeq,
          };
          const { jobId: _j, step: _s, ...stepChanging } = stepRow;
          await tx
            .insert(jobSteps)
            .values(stepRow)
            .onConflictDoUpdate({ target: [jobSteps.jobId, jobSteps.step], set: stepChanging, setWhere: sql`${jobSteps.lastSeq} < ${s.lastSeq}` });
        }
        const dl = record.deadLetter;
        if (dl !== null) {
          await tx
            .insert(jobDeadLetters)
            .values({
              jobId: dl.jobId,
              kind: dl.kind,
              ownerId: dl.owner,
              step: dl.step,
              attempts: dl.attempts,
              error: dl.error,
              lastAttemptError: dl.lastAttemptError,
              failedAt: dl.failedAt,
            })
            .onConflictDoNothing({ target: jobDeadLetters.jobId });
        }
      });
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
