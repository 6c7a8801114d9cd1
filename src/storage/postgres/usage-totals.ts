/**
 * What the usage quotas (src/limits/usage-quotas.ts) read: a user's running
 * jobs, and the model tokens of their jobs and agent sessions created since a
 * time. Both use the owner+created indexes of the projections.
 */
import { and, count, eq, gte, inArray, sql } from 'drizzle-orm';
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

  async tokensSince(ownerId: string, since: Date): Promise<number> {
    const tokens = (t: typeof jobs | typeof agentSessions) => sql<string>`coalesce(sum(${t.promptTokens} + ${t.completionTokens}), 0)`;
    const [fromJobs] = await this.db.select({ n: tokens(jobs) }).from(jobs).where(and(eq(jobs.ownerId, ownerId), gte(jobs.createdAt, since)));
    const [fromSessions] = await this.db
      .select({ n: tokens(agentSessions) })
      .from(agentSessions)
      .where(and(eq(agentSessions.ownerId, ownerId), gte(agentSessions.createdAt, since)));
    return Number(fromJobs?.n ?? 0) + Number(fromSessions?.n ?? 0);
  }
}
