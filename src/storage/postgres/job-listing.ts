/**
 * "My jobs, newest first" (GET /v1/jobs): keyset pages over the jobs
 * projection (the job actors write it; this only reads), optionally of one
 * kind or one status. A page is ordered by (created_at, id) descending and
 * continues after the last row of the previous one, so jobs created
 * meanwhile never shift a page. Served by jobs_owner_created_idx and the
 * owner+kind / owner+status indexes.
 */
import { and, desc, eq, lt, or, type SQL } from 'drizzle-orm';
import type { LoomDatabase } from './database.ts';
import { jobs } from './jobs-schema.ts';
import { StorageError } from './storage-error.ts';

/** A job as a list shows it (GET /v1/jobs/:id has the rest). */
export interface JobSummary {
  readonly id: string;
  readonly kind: string;
  readonly status: string;
  readonly targetDocId: string | null;
  readonly error: unknown;
  readonly usage: { readonly calls: number; readonly promptTokens: number; readonly completionTokens: number; readonly costUsd: number; readonly durationMs: number };
  readonly lastSeq: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly finishedAt: Date | null;
}

/** Position after the last item of a page. */
export interface JobListCursor {
  readonly createdAt: Date;
  readonly id: string;
}

export interface JobListPage {
  readonly items: readonly JobSummary[];
  /** Cursor of the next page, or null on the last one. */
  readonly next: JobListCursor | null;
}

export interface JobListQuery {
  readonly limit: number;
  readonly after?: JobListCursor | undefined;
  readonly kind?: string | undefined;
  readonly status?: string | undefined;
}

export class PostgresJobListing {
  constructor(private readonly db: LoomDatabase) {}

  /** @throws StorageError when the query fails. */
  async list(ownerId: string, q: JobListQuery): Promise<JobListPage> {
    const t = jobs;
    const conditions: Array<SQL | undefined> = [eq(t.ownerId, ownerId)];
    if (q.kind !== undefined) conditions.push(eq(t.kind, q.kind));
    if (q.status !== undefined) conditions.push(eq(t.status, q.status));
    if (q.after !== undefined) {
      const { createdAt, id } = q.after;
      conditions.push(or(lt(t.createdAt, createdAt), and(eq(t.createdAt, createdAt), lt(t.id, id))));
    }
    let rows: Array<typeof t.$inferSelect>;
    try {
      rows = await this.db
        .select()
        .from(t)
        .where(and(...conditions))
        .orderBy(desc(t.createdAt), desc(t.id))
        .limit(q.limit + 1);
    } catch (err) {
      throw new StorageError(`listing the jobs of ${ownerId} failed`, { op: 'list-jobs' }, { cause: err });
    }
    const items = rows.slice(0, q.limit).map(
      (r): JobSummary => ({
        id: r.id,
        kind: r.kind,
        status: r.status,
        targetDocId: r.targetDocId,
        error: r.error,
        usage: { calls: r.calls, promptTokens: r.promptTokens, completionTokens: r.completionTokens, costUsd: r.costUsd, durationMs: r.durationMs },
        lastSeq: r.lastSeq,
        createdAt: r.createdAt,
        updatedAt: r.updatedAt,
        finishedAt: r.finishedAt,
      }),
    );
    const last = items.at(-1);
    return { items, next: rows.length > q.limit && last !== undefined ? { createdAt: last.createdAt, id: last.id } : null };
  }
}
