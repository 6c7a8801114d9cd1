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
 *
 * The upsert is one fixed SQL text with the batch as a single JSON
 * parameter (json_to_recordset), not drizzle's insert builder: building a
 * multi-row insert of 15 columns per batch was 5% of an actors host's CPU
 * under the agent benchmark, and a fixed text is the same statement for
 * every batch size.
 */
import { and, asc, eq, getTableColumns, getTableName, gt, sql } from 'drizzle-orm';
import type { AgentProjection, AgentProjectionRecord } from '../../../actors/agent/index.ts';
import { toStorableText } from '../../../protocol/storable-json.ts';
import type { Logger } from '../../log.ts';
import { agentSessions } from './agent-sessions-schema.ts';
import { CoalescedWrites } from './coalesced-writes.ts';
import type { LoomDatabase } from './database.ts';
import { StorageError } from './storage-error.ts';

/** A session the supervisor may need to resume. */
export interface AgentSessionNeedingHost {
  readonly id: string;
  readonly updatedAt: Date;
}

/** The table's columns as json_to_recordset reads them: the JSON keys of a batch row are the SQL column names. */
const COLUMNS = Object.values(getTableColumns(agentSessions)).map((c) => [c.name, c.getSQLType()] as const);
/** What an upsert leaves alone: the id, owner and creation time never change. */
const NEVER_CHANGE = new Set([agentSessions.id.name, agentSessions.ownerId.name, agentSessions.createdAt.name]);
const TABLE = getTableName(agentSessions);
const NAMES = COLUMNS.map(([name]) => name).join(', ');
/** Rows newer than the stored one (by `last_seq`) replace it, in id order so concurrent hosts lock rows in one order. */
const UPSERT_HEAD = sql.raw(`insert into ${TABLE} (${NAMES}) select ${NAMES} from json_to_recordset(`);
const UPSERT_TAIL = sql.raw(
  [
    `::json) as r(${COLUMNS.map(([name, type]) => `${name} ${type}`).join(', ')}) order by id`,
    `on conflict (id) do update set ${COLUMNS.filter(([name]) => !NEVER_CHANGE.has(name)).map(([name]) => `${name} = excluded.${name}`).join(', ')}`,
    `where ${TABLE}.last_seq < excluded.last_seq`,
  ].join(' '),
);

/**
 * A batch row under the table's SQL column names; JSON writes the dates as
 * ISO instants. A column rowOf left out would read as null: the projection's
 * tests read every column back.
 */
interface Row {
  readonly [column: string]: string | number | boolean | Date | null;
  readonly id: string;
  readonly last_seq: number;
}

/**
 * The record's free texts as PostgreSQL stores them (toStorableText): a NUL
 * or lone surrogate made PostgreSQL refuse the row, and as the log keeps the
 * text (entries written before the edges refused it, a title cut inside a
 * surrogate pair) every later save of the session was refused too, so its
 * row froze. `replaced` names the columns that were changed.
 */
function rowOf(r: AgentProjectionRecord, replaced: string[]): Row {
  const text = <S extends string | null>(column: string, value: S): S => {
    if (value === null) return value;
    const stored = toStorableText(value);
    if (stored !== value) replaced.push(column);
    return stored as S;
  };
  return {
    id: r.id,
    owner_id: text('owner_id', r.ownerId),
    status: r.status,
    needs_host: r.needsHost,
    model: text('model', r.model),
    doc_id: text('doc_id', r.docId),
    // A title cut inside a surrogate pair is common (the first 120 UTF-16 units of a message): made well-formed silently, as the driver did.
    title: text('title', r.title === null ? null : r.title.toWellFormed()),
    turns: r.turns,
    calls: r.usage.calls,
    prompt_tokens: r.usage.promptTokens,
    completion_tokens: r.usage.completionTokens,
    cost_usd: r.usage.costUsd,
    last_seq: r.lastSeq,
    created_at: r.createdAt,
    updated_at: r.updatedAt,
  };
}

export class PostgresAgentProjection implements AgentProjection {
  readonly #writes = new CoalescedWrites<Row>((rows) => this.#write(rows), (pending, saved) => (saved.last_seq >= pending.last_seq ? saved : pending));

  /** @param log where a record stored with replaced characters is reported (warn) */
  constructor(
    private readonly db: LoomDatabase,
    private readonly log?: Logger,
  ) {}

  /**
   * Resolves once the row (or a newer one of the same session) is written.
   * Text PostgreSQL refuses (NUL, a lone surrogate) is stored with U+FFFD in its place.
   * @throws StorageError
   */
  save(r: AgentProjectionRecord): Promise<void> {
    const replaced: string[] = [];
    const row = rowOf(r, replaced);
    if (replaced.length > 0) this.log?.warn({ sessionId: r.id, columns: replaced, lastSeq: r.lastSeq }, 'agent session projected with unstorable characters replaced');
    return this.#writes.save(r.id, row);
  }

  /** One upsert of rows of distinct sessions (sorted by id, so concurrent hosts lock rows in one order). */
  async #write(rows: Row[]): Promise<void> {
    try {
      await this.db.execute(sql`${UPSERT_HEAD}${JSON.stringify(rows)}${UPSERT_TAIL}`);
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
