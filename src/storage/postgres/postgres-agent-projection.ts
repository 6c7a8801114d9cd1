/**
 * AgentProjection on PostgreSQL (or PGlite): upserts a session's row,
 * replacing it only with a newer one (`last_seq` guard), so writes racing
 * from two activations never move a row backwards. Also answers the
 * supervisor's query: sessions with a turn in flight. (Listing "my
 * sessions" reads the same table: agent-session-listing.ts.)
 *
 * Writes of all the sessions of a host are coalesced: the rows saved while
 * one statement runs go out together as the next one (one multi-row upsert,
 * the newest row per session), so under load a host makes a few
 * statements per second instead of two per turn and session
 * (coalesced-writes.ts).
 */
import { and, asc, eq, gt, lt, sql } from 'drizzle-orm';
import type { AgentProjection, AgentProjectionRecord } from '../../../actors/agent/index.ts';
import { agentSessions } from './agent-sessions-schema.ts';
import { CoalescedWrites } from './coalesced-writes.ts';
import type { LoomDatabase } from './database.ts';
import { StorageError } from './storage-error.ts';

/** A session the supervisor may need to resume. */
export interface AgentSessionNeedingHost {
  readonly id: string;
  readonly updatedAt: Date;
}

type Row = typeof agentSessions.$inferInsert;

/** Columns an upsert replaces; the id, owner and creation time never change. */
const CHANGING = ['status', 'needsHost', 'model', 'docId', 'title', 'turns', 'calls', 'promptTokens', 'completionTokens', 'costUsd', 'lastSeq', 'updatedAt'] as const;
const fromExcluded = Object.fromEntries(CHANGING.map((key) => [key, sql.raw(`excluded.${agentSessions[key].name}`)]));

function rowOf(r: AgentProjectionRecord): Row {
  return {
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
}

export class PostgresAgentProjection implements AgentProjection {
  readonly #writes = new CoalescedWrites<Row>((rows) => this.#write(rows), (pending, saved) => (saved.lastSeq >= pending.lastSeq ? saved : pending));

  constructor(private readonly db: LoomDatabase) {}

  /**
   * Resolves once the row (or a newer one of the same session) is written.
   * @throws StorageError
   */
  save(r: AgentProjectionRecord): Promise<void> {
    return this.#writes.save(r.id, rowOf(r));
  }

  /** One upsert of rows of distinct sessions (sorted by id, so concurrent hosts lock rows in one order). */
  async #write(rows: Row[]): Promise<void> {
    try {
      await this.db
        .insert(agentSessions)
        .values(rows)
        .onConflictDoUpdate({ target: agentSessions.id, set: fromExcluded, setWhere: lt(agentSessions.lastSeq, sql`excluded.last_seq`) });
    } catch (err) {
      const ids = rows.map((r) => r.id);
      throw new StorageError(`projecting agent sessions ${JSON.stringify(ids.slice(0, 5))}${ids.length > 5 ? ` and ${ids.length - 5} more` : ''} failed`, { op: 'project-agent-session' }, { cause: err });
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
