/**
 * "My agent sessions, newest first": keyset pages over the agent_sessions
 * projection (the actor writes it; this only reads). A page is ordered by
 * (created_at, id) descending and continues after the last row of the
 * previous one, so sessions created meanwhile never shift a page.
 */
import { and, desc, eq, lt, or } from 'drizzle-orm';
import { agentSessions } from './agent-sessions-schema.ts';
import type { LoomDatabase } from './database.ts';
import { StorageError } from './storage-error.ts';

/** A session as a list shows it (GET /v1/agent-sessions/:id has the rest). */
export interface AgentSessionSummary {
  readonly id: string;
  readonly status: string;
  readonly model: string;
  readonly docId: string | null;
  readonly title: string | null;
  readonly turns: number;
  readonly usage: { readonly calls: number; readonly promptTokens: number; readonly completionTokens: number; readonly costUsd: number };
  readonly lastSeq: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Position after the last item of a page. */
export interface AgentSessionCursor {
  readonly createdAt: Date;
  readonly id: string;
}

export interface AgentSessionPage {
  readonly items: readonly AgentSessionSummary[];
  /** Cursor of the next page, or null on the last one. */
  readonly next: AgentSessionCursor | null;
}

export class PostgresAgentSessionListing {
  constructor(private readonly db: LoomDatabase) {}

  /** @throws StorageError when the query fails. */
  async list(ownerId: string, opts: { limit: number; after?: AgentSessionCursor | undefined }): Promise<AgentSessionPage> {
    const t = agentSessions;
    const conditions = [eq(t.ownerId, ownerId)];
    if (opts.after !== undefined) {
      const { createdAt, id } = opts.after;
      const older = or(lt(t.createdAt, createdAt), and(eq(t.createdAt, createdAt), lt(t.id, id)));
      if (older !== undefined) conditions.push(older);
    }
    let rows: Array<typeof t.$inferSelect>;
    try {
      rows = await this.db.select().from(t).where(and(...conditions)).orderBy(desc(t.createdAt), desc(t.id)).limit(opts.limit + 1);
    } catch (err) {
      throw new StorageError(`listing the agent sessions of ${ownerId} failed`, { op: 'list-agent-sessions' }, { cause: err });
    }
    const items = rows.slice(0, opts.limit).map(
      (r): AgentSessionSummary => ({
        id: r.id,
        status: r.status,
        model: r.model,
        docId: r.docId,
        title: r.title,
        turns: r.turns,
        usage: { calls: r.calls, promptTokens: r.promptTokens, completionTokens: r.completionTokens, costUsd: r.costUsd },
        lastSeq: r.lastSeq,
        createdAt: r.createdAt,
        updatedAt: r.updatedAt,
      }),
    );
    const last = items.at(-1);
    return { items, next: rows.length > opts.limit && last !== undefined ? { createdAt: last.createdAt, id: last.id } : null };
  }
}
