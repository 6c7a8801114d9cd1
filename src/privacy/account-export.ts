/**
 * The account export (GET /v1/account/export): everything Loom holds about
 * the caller, as one JSON document produced piece by piece, so memory stays
 * bounded by one page (export-sections.ts) or one document's content, never
 * by the account's size. Layout, in this order:
 *
 *   { "format": "loom.account-export", "version": 1, "exportedAt",
 *     "account":   { id, email, createdAt },
 *     "sessions":  [ login sessions: started, last refreshed, expiry, revoked ],
 *     "apiKeys":   [ metadata, never the secret ],
 *     "documents": [ every membership with its role; owned documents add
 *                    `members` and `content` (as GET /v1/docs/:id returns it,
 *                    read through the document actor) ],
 *     "uploads":   [ metadata ],
 *     "jobs":      [ job views (steps, output, artifacts, usage) with their input,
 *                    folded from each job's log without activating it ],
 *     "agentSessions": [ session views with their transcripts, folded likewise ],
 *     "audit":     [ entries the user made or that are about their account ] }
 *
 * A failure after the first bytes cannot change the status:
 * the stream is cut, so the client sees invalid JSON, never a silently
 * partial archive. One export per user at a time, and a token bucket per user.
 */
import { eq } from 'drizzle-orm';
import type { AgentLog } from '../../actors/agent/index.ts';
import { jobView, replayJob, type JobLog } from '../../actors/job/index.ts';
import type { ApiKeyService, AuditLog, Principal, RateLimiter } from '../auth/index.ts';
import { encodeCursor, type DocumentService } from '../documents/index.ts';
import { RateLimitedError } from '../errors/index.ts';
import type { Logger } from '../log.ts';
import { users, type LoomDatabase } from '../storage/index.ts';
import { agentSessionExport } from './agent-sessions.ts';
import { agentSessionIds, auditRows, EXPORT_PAGE, jobIds, sessionRows, uploadRows } from './export-sections.ts';
import { PrivacyError } from './privacy-error.ts';
import { isDeletedEmail } from './pseudonym.ts';

export const EXPORT_FORMAT = 'loom.account-export';
export const EXPORT_VERSION = 1;

export interface AccountExportDeps {
  readonly db: LoomDatabase;
  readonly apiKeys: Pick<ApiKeyService, 'list'>;
  readonly documents: Pick<DocumentService, 'list' | 'members' | 'content'>;
  /** Read only: jobs are folded from their log, not activated. */
  readonly jobLog: JobLog;
  /** The agent log; resolves once JetStream answered (create-privacy.ts). */
  readonly agentLog: Promise<AgentLog>;
  readonly audit: Pick<AuditLog, 'record'>;
  /** Per user; one token per export. */
  readonly limiter: RateLimiter;
  readonly log: Logger;
  readonly now?: () => number;
}

export class AccountExport {
  readonly #d: AccountExportDeps;
  readonly #now: () => number;
  readonly #running = new Set<string>();

  constructor(deps: AccountExportDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  /**
   * Starts an export: checks the limits, records it in the audit log, and
   * returns the JSON text in chunks. Iterate it to the end (or call
   * `return()`) so the per-user slot is freed.
   * @throws RateLimitedError, PrivacyError `export-in-progress` or `account-not-found`.
   */
  async open(principal: Principal, ip: string | undefined): Promise<AsyncGenerator<string>> {
    const userId = principal.userId;
    if (this.#running.has(userId)) throw new PrivacyError('export-in-progress', 'an export of this account is running; wait for it to finish');
    const [user] = await this.#d.db.select({ id: users.id, email: users.email, createdAt: users.createdAt }).from(users).where(eq(users.id, userId)).limit(1);
    if (user === undefined || isDeletedEmail(user.email)) throw new PrivacyError('account-not-found', 'this account no longer exists');
    const r = this.#d.limiter.take(`export:${userId}`);
    if (!r.ok) throw new RateLimitedError('too many exports of this account; try again later', r.retryAfterMs);
    await this.#d.audit.record({ action: 'account.export', actor: principal, targetType: 'user', targetId: userId, ip });
    this.#running.add(userId);
    const account = { id: user.id, email: user.email, createdAt: user.createdAt.toISOString() };
    const self = this;
    return (async function* () {
      try {
        yield* self.#archive(principal, account);
      } finally {
        self.#running.delete(userId);
      }
    })();
  }

  async *#archive(principal: Principal, account: { id: string; email: string; createdAt: string }): AsyncGenerator<string> {
    const { db } = this.#d;
    const head = { format: EXPORT_FORMAT, version: EXPORT_VERSION, exportedAt: new Date(this.#now()).toISOString(), account };
    yield JSON.stringify(head).slice(0, -1);
    yield* section('sessions', sessionRows(db, account.id));
    const keys = await this.#d.apiKeys.list(account.id);
    yield* section(
      'apiKeys',
      keys.map((k) => ({ ...k, scopes: [...k.scopes], createdAt: k.createdAt.toISOString(), lastUsedAt: k.lastUsedAt?.toISOString() ?? null, revokedAt: k.revokedAt?.toISOString() ?? null })),
    );
    yield* section('documents', this.#documents(principal));
    yield* section('uploads', uploadRows(db, account.id));
    yield* section('jobs', this.#jobs(account.id));
    yield* section('agentSessions', this.#agentSessions(account.id));
    yield* section('audit', auditRows(db, account.id));
    yield '}';
  }

  async *#documents(principal: Principal): AsyncGenerator<Record<string, unknown>> {
    let cursor: string | undefined;
    do {
      const page = await this.#d.documents.list(principal, { scope: 'all', limit: EXPORT_PAGE, cursor });
      for (const doc of page.items) {
        const item: Record<string, unknown> = {
          id: doc.id,
          title: doc.title,
          role: doc.role,
          ownerId: doc.ownerId,
          createdAt: doc.createdAt.toISOString(),
          updatedAt: doc.updatedAt.toISOString(),
        };
        if (doc.role === 'owner') {
          item.members = (await this.#d.documents.members(principal, doc.id)).map((m) => ({ userId: m.userId, role: m.role, addedAt: m.addedAt.toISOString() }));
          try {
            item.content = await this.#d.documents.content(principal, doc.id);
          } catch (err) {
            // One unreachable document must not cost the whole archive: it says so in place.
            this.#d.log.warn({ err, docId: doc.id }, 'account export: content unavailable');
            item.content = null;
            item.contentError = err instanceof Error && 'code' in err ? String(err.code) : 'unavailable';
          }
        }
        yield item;
      }
      cursor = page.next === null ? undefined : encodeCursor(page.next);
    } while (cursor !== undefined);
  }

  #agentSessions(userId: string): AsyncGenerator<unknown> {
    const { db, agentLog } = this.#d;
    return nonNull(
      (async function* () {
        const log = await agentLog;
        for await (const id of agentSessionIds(db, userId)) yield await agentSessionExport(log, id);
      })(),
    );
  }

  async *#jobs(userId: string): AsyncGenerator<unknown> {
    for await (const id of jobIds(this.#d.db, userId)) {
      const state = await replayJob(id, { log: this.#d.jobLog });
      // A job whose log is gone (retention) has no view left to export.
      // The view leaves out the input (clients sent it); an archive of "everything" carries it.
      if (state.created !== null) yield { ...jobView(state), input: state.created.input };
    }
  }
}

async function* nonNull<T>(items: AsyncIterable<T | null>): AsyncGenerator<T> {
  for await (const item of items) if (item !== null) yield item;
}

/** `,"name":[item,item,...]` from any (async) iterable, one chunk per item. */
async function* section(name: string, items: AsyncIterable<unknown> | Iterable<unknown>): AsyncGenerator<string> {
  yield `,${JSON.stringify(name)}:[`;
  let first = true;
  for await (const item of items) {
    yield (first ? '' : ',') + JSON.stringify(item);
    first = false;
  }
  yield ']';
}
