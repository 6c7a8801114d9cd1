/**
 * AgentProjection on PostgreSQL (or PGlite): upserts a session's row,
 * replacing it only with a newer one (`last_seq` guard), so writes racing
 * from two activations never move a row backwards. Also answers the
 * supervisor's query: sessions with a turn in flight. (Listing "my
 * sessions" reads the same table: agent-session-listing.ts.)
 */
import { and, asc, eq, gt, lt, sql } from 'drizzle-orm';
import type { AgentProjection, AgentProjectionRecord } from '../../../actors/agent/index.ts';
import { agentSessions } from './agent-sessions-schema.ts';
import type { LoomDatabase } from './database.ts';
import { StorageError } from './storage-error.ts';

/** A session the supervisor may need to resume. */
export interface AgentSessionNeedingHost {
  readonly id: string;
  readonly updatedAt: Date;
}

export class PostgresAgentProjection implements AgentProjection {
  constructor(private readonly db: LoomDatabase) {}

  /** @throws StorageError */
  async save(r: AgentProjectionRecord): Promise<void> {
    const row = {
      id: r.id,
      ownerId: r.ownerId,
      status: r.status,
      needsHost: r.needsHost,
      model: r.model,
      docId: r.docId,
      title: r.title,
      turns: r.turns,
      calls: r.usage.calls,
      promptTokens: r.usage.promptTokens,
      completionTokens: r.usage.completionTokens,
      costUsd: r.usage.costUsd,
      lastSeq: r.lastSeq,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
    };
    const { id: _id, ownerId: _owner, createdAt: _created, ...changing } = row;
    try {
      await this.db
        .insert(agentSessions)
        .values(row)
        .onConflictDoUpdate({ target: agentSessions.id, set: changing, setWhere: lt(agentSessions.lastSeq, sql`excluded.last_seq`) });
    } catch (err) {
      throw new StorageError(`projecting agent session ${JSON.stringify(r.id)} at seq ${r.lastSeq} failed`, { op: 'project-agent-session', seq: r.lastSeq }, { cause: err });
    }
  }

  /**
   * Sessions with a turn in flight, oldest update first, after `after` (paging).
   * @throws StorageError
   */
  async needingHost(limit: number, after?: AgentSessionNeedingHost): Promise<AgentSessionNeedingHost[]> {
    const t = agentSessions;
    try {
      const where = after === undefined ? eq(t.needsHost, true) : and(eq(t.needsHost, true), gt(t.updatedAt, after.updatedAt));
      return await this.db.select({ id: t.id, updatedAt: t.updatedAt }).from(t).where(where).orderBy(asc(t.updatedAt)).limit(limit);
    } catch (err) {
      throw new StorageError('listing agent sessions that need a host failed', { op: 'agent-sessions-needing-host' }, { cause: err });
    }
  }
}
