/**
 * What the usage quotas (src/limits/usage-quotas.ts) read: a user's running
 * jobs, and the model tokens of their jobs and agent sessions created since a
 * time. Both use the owner+created indexes of the projections.
 */
import { and, count, eq, inArray, sql } from 'drizzle-orm';
import type { LoomDatabase } from './database.ts';
import { agentSessions } from './agent-sessions-schema.ts';
import { jobs } from './jobs-schema.ts';

/** Job statuses that hold a place in the concurrent-jobs quota (a job waiting for approval uses no model or worker). */
const ACTIVE_JOB_STATUSES = ['pending', 'running'];

export class PostgresUsageTotals {
  constructor(private readonly db: LoomDatabase) {}

  async activeJobs(ownerId: string): Promise<number> {
    const [row] = await this.db
      .select({ n: count() })
      .from(jobs)
      .where(and(eq(jobs.ownerId, ownerId), inArray(jobs.status, ACTIVE_JOB_STATUSES)));
    return row?.n ?? 0;
  }

  /** One round trip: it runs before every job start and agent message. */
  async tokensSince(ownerId: string, since: Date): Promise<number> {
    const used = (t: typeof jobs | typeof agentSessions) =>
      sql`(select coalesce(sum(${t.promptTokens} + ${t.completionTokens}), 0) from ${t} where ${t.ownerId} = ${ownerId} and ${t.createdAt} >= ${since})`;
    // Both drivers (pg, PGlite) answer raw SQL with `{ rows }`; the database type leaves it unknown.
    const result: unknown = await this.db.execute(sql`select ${used(jobs)} + ${used(agentSessions)} as n`);
    const rows = (result as { rows?: unknown }).rows;
    const first: unknown = Array.isArray(rows) ? rows[0] : undefined;
    return Number((first as { n?: unknown } | undefined)?.n ?? 0);
  }
}
