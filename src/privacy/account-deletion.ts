/**
 * Deleting an account (DELETE /v1/account), after the password confirms it.
 * Each step can be repeated, so a deletion that fails half way (an actor or
 * a store unreachable) is finished by asking again; the account row and the
 * audit log are anonymised last, once everything else is gone:
 *
 * 1. every session and API key is revoked (their revocation notices close
 *    the sockets they opened);
 * 2. documents: each one the user created goes to an heir (heir.ts) or, with
 *    none, is deleted with its log, snapshots and objects; their other
 *    memberships are removed (access events close their sockets there);
 * 3. jobs are purged, not anonymised: running ones are cancelled, then each
 *    job's log, projection rows and artifacts are deleted (job-removal.ts);
 * 4. agent sessions likewise: a running turn is cancelled, then log and row go;
 * 5. uploads: objects and rows are deleted;
 * 6. account-anonymiser.ts, then one `account.delete` entry under the pseudonym.
 */
import { randomBytes } from 'node:crypto';
import { and, eq, notInArray } from 'drizzle-orm';
import { ProtocolError } from '../../protocol/errors.ts';
import { parseActorId, type ActorId } from '../../protocol/ids.ts';
import { encodeJson } from '../../protocol/reply.ts';
import { TERMINAL_JOB_STATUSES, type JobStatus } from '../../protocol/job.ts';
import type { ApiKeyService, AsyncRateLimiter, AuditLog, PasswordHasher, Principal, TokenService } from '../auth/index.ts';
import { encodeCursor, type AccessEvents, type DocumentService } from '../documents/index.ts';
import { RateLimitedError } from '../errors/index.ts';
import type { Logger } from '../log.ts';
import { agentSessions, jobs, uploads, users, type LoomDatabase } from '../storage/index.ts';
import { anonymiseAccount } from './account-anonymiser.ts';
import { removeAgentSession, type AgentSessionLog } from './agent-sessions.ts';
import { handOverDocument } from './document-handover.ts';
import { chooseHeir } from './heir.ts';
import { removeJob, type JobRemovalDeps } from './job-removal.ts';
import { PrivacyError } from './privacy-error.ts';
import { projectionSettled } from './projection-settled.ts';
import { isDeletedEmail, newPseudonym } from './pseudonym.ts';

export interface AccountDeletionDeps extends JobRemovalDeps {
  readonly objects: JobRemovalDeps['objects'] & { delete(key: string): Promise<void> };
  readonly hasher: Pick<PasswordHasher, 'verify' | 'hash'>;
  /** Bounds password guesses with a stolen access token (keyed per user). */
  readonly passwordLimiter: AsyncRateLimiter;
  readonly tokens: Pick<TokenService, 'revokeAllSessions'>;
  readonly apiKeys: Pick<ApiKeyService, 'list' | 'revoke'>;
  readonly audit: Pick<AuditLog, 'record'>;
  readonly documents: Pick<DocumentService, 'list' | 'members' | 'delete' | 'unshare'>;
  readonly accessEvents: AccessEvents;
  /** Commands to actors (the ActorClient): jobs and agent turns still running are cancelled first. */
  readonly actors: { request(kind: 'job' | 'agent', id: ActorId, command: string, body: Uint8Array): Promise<unknown> };
  /** The agent log; resolves once JetStream answered (create-privacy.ts). */
  readonly agentLog: Promise<AgentSessionLog>;
  readonly log: Logger;
  readonly now?: () => number;
}

/** What a deletion did, as the response reports it. */
export interface DeletionReport {
  readonly documentsDeleted: string[];
  readonly documentsTransferred: Array<{ readonly id: string; readonly to: string }>;
  readonly membershipsRemoved: number;
  readonly jobsRemoved: number;
  readonly agentSessionsRemoved: number;
  readonly uploadsRemoved: number;
  readonly apiKeysRevoked: number;
  readonly auditEntriesAnonymised: number;
}

const PAGE = 100;

export class AccountDeletion {
  readonly #d: AccountDeletionDeps;
  readonly #now: () => number;

  constructor(deps: AccountDeletionDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
  }

  /**
   * Deletes the principal's account (see the module comment for what that means).
   * @throws PrivacyError `password-mismatch` (field password), `account-not-found`, `deletion-incomplete` (repeat it);
   *   RateLimitedError after too many wrong passwords.
   */
  async delete(principal: Principal, password: string, ip: string | undefined): Promise<DeletionReport> {
    const user = await this.#confirm(principal.userId, password);
    const ctx = { principal, ip };
    const failures: unknown[] = [];
    const keys = await this.#d.apiKeys.list(user.id);
    let apiKeysRevoked = 0;
    for (const key of keys) if (key.revokedAt === null && (await this.#d.apiKeys.revoke(user.id, key.id))) apiKeysRevoked++;
    await this.#d.tokens.revokeAllSessions(user.id);

    const docs = await this.#documents(ctx, failures);
    const jobsRemoved = await this.#jobs(user.id, failures);
    const agentSessionsRemoved = await this.#agentSessions(user.id, failures);
    const uploadsRemoved = await this.#uploads(user.id, failures);
    if (failures.length > 0) {
      this.#d.log.warn({ userId: user.id, failures: failures.length, err: failures[0] }, 'account deletion incomplete');
      throw new PrivacyError('deletion-incomplete', `${failures.length} part(s) of the account could not be deleted yet; repeat the request`, {
        cause: failures[0],
      });
    }

    const pseudonym = newPseudonym();
    const anonymised = await anonymiseAccount(this.#d.db, user, pseudonym, await this.#d.hasher.hash(randomBytes(32).toString('base64url')));
    const report: DeletionReport = { ...docs, jobsRemoved, agentSessionsRemoved, uploadsRemoved, apiKeysRevoked, auditEntriesAnonymised: anonymised.auditEntries };
    await this.#d.audit.record({
      action: 'account.delete',
      actor: { userId: pseudonym.id },
      targetType: 'user',
      targetId: pseudonym.id,
      detail: { ...report, documentsDeleted: docs.documentsDeleted.length, documentsTransferred: docs.documentsTransferred.length },
    });
    this.#d.log.info({ pseudonym: pseudonym.id, ...anonymised, jobsRemoved, uploadsRemoved }, 'account deleted');
    return report;
  }

  async #confirm(userId: string, password: string): Promise<{ id: string; email: string }> {
    const limited = await this.#d.passwordLimiter.take(`account-password:${userId}`);
    if (!limited.ok) throw new RateLimitedError('too many password attempts; try again later', limited.retryAfterMs);
    const [row] = await this.#d.db.select().from(users).where(eq(users.id, userId)).limit(1);
    if (row === undefined || isDeletedEmail(row.email)) throw new PrivacyError('account-not-found', 'this account no longer exists');
    if (!(await this.#d.hasher.verify(row.passwordHash, password))) {
      throw new PrivacyError('password-mismatch', 'the password does not match this account', { field: 'password' });
    }
    return { id: row.id, email: row.email };
  }

  async #documents(ctx: { principal: Principal; ip: string | undefined }, failures: unknown[]) {
    const userId = ctx.principal.userId;
    const documentsDeleted: string[] = [];
    const documentsTransferred: Array<{ id: string; to: string }> = [];
    let membershipsRemoved = 0;
    let cursor: string | undefined;
    // Pages go backwards in creation order, so what each step removes from the list never shifts a later page.
    do {
      const page = await this.#d.documents.list(ctx.principal, { scope: 'all', limit: PAGE, cursor });
      for (const doc of page.items) {
        try {
          if (doc.ownerId !== userId) {
            await this.#d.documents.unshare(ctx, doc.id, userId);
            membershipsRemoved++;
            continue;
          }
          const heir = chooseHeir(await this.#d.documents.members(ctx.principal, doc.id), userId);
          if (heir === null) {
            await this.#d.documents.delete(ctx, doc.id);
            documentsDeleted.push(doc.id);
          } else if (await handOverDocument(this.#d, { id: doc.id, from: userId, to: heir, at: new Date(this.#now()) })) {
            await this.#d.audit.record({ action: 'doc.transfer', actor: ctx.principal, targetType: 'doc', targetId: doc.id, ip: ctx.ip, detail: { to: heir } });
            documentsTransferred.push({ id: doc.id, to: heir });
          }
        } catch (err) {
          failures.push(err);
          this.#d.log.warn({ err, docId: doc.id, userId }, 'account deletion: a document could not be handled');
        }
      }
      cursor = page.next === null ? undefined : encodeCursor(page.next);
    } while (cursor !== undefined);
    return { documentsDeleted, documentsTransferred, membershipsRemoved };
  }

  /** Removes the user's rows page by page; one that fails is counted and skipped for the rest of this request. */
  async #removeAll<R extends { id: string }>(
    what: string,
    userId: string,
    failures: unknown[],
    page: (skip: readonly string[]) => Promise<R[]>,
    remove: (row: R) => Promise<void>,
  ): Promise<number> {
    let removed = 0;
    const failed: string[] = [];
    for (;;) {
      const rows = await page(failed);
      for (const row of rows) {
        try {
          await remove(row);
          removed++;
        } catch (err) {
          failed.push(row.id);
          failures.push(err);
          this.#d.log.warn({ err, id: row.id, userId }, `account deletion: ${what} could not be removed`);
        }
      }
      if (rows.length < PAGE) return removed;
    }
  }

  #jobs(userId: string, failures: unknown[]): Promise<number> {
    const mine = (skip: readonly string[]) => (skip.length === 0 ? eq(jobs.ownerId, userId) : and(eq(jobs.ownerId, userId), notInArray(jobs.id, [...skip])));
    return this.#removeAll(
      'a job',
      userId,
      failures,
      (skip) => this.#d.db.select({ id: jobs.id, status: jobs.status }).from(jobs).where(mine(skip)).limit(PAGE),
      async (job) => {
        if (!TERMINAL_JOB_STATUSES.has(job.status as JobStatus)) {
          await this.#cancel(job.id, userId);
          await projectionSettled(`job ${job.id}`, () => this.#jobStatus(job.id), (status) => TERMINAL_JOB_STATUSES.has(status as JobStatus));
        }
        await removeJob(this.#d, job.id);
      },
    );
  }

  async #jobStatus(id: string): Promise<string | null> {
    const [row] = await this.#d.db.select({ status: jobs.status }).from(jobs).where(eq(jobs.id, id)).limit(1);
    return row?.status ?? null;
  }

  async #cancel(jobId: string, userId: string): Promise<void> {
    try {
      await this.#d.actors.request('job', parseActorId(jobId), 'cancel', encodeJson({ by: userId, reason: 'account deleted' }));
    } catch (err) {
      // Ended meanwhile: nothing left to stop.
      if (!(err instanceof ProtocolError && err.code === 'conflict')) throw err;
    }
  }

  async #agentSessions(userId: string, failures: unknown[]): Promise<number> {
    const log = await this.#d.agentLog;
    const t = agentSessions;
    const mine = (skip: readonly string[]) => (skip.length === 0 ? eq(t.ownerId, userId) : and(eq(t.ownerId, userId), notInArray(t.id, [...skip])));
    return this.#removeAll(
      'an agent session',
      userId,
      failures,
      (skip) => this.#d.db.select({ id: t.id, status: t.status }).from(t).where(mine(skip)).limit(PAGE),
      async (session) => {
        await removeAgentSession({ db: this.#d.db, log, actors: this.#d.actors }, { ...session, by: userId });
      },
    );
  }

  #uploads(userId: string, failures: unknown[]): Promise<number> {
    const mine = (skip: readonly string[]) => (skip.length === 0 ? eq(uploads.ownerId, userId) : and(eq(uploads.ownerId, userId), notInArray(uploads.id, [...skip])));
    return this.#removeAll(
      'an upload',
      userId,
      failures,
      (skip) => this.#d.db.select({ id: uploads.id, objectKey: uploads.objectKey }).from(uploads).where(mine(skip)).limit(PAGE),
      async (upload) => {
        await this.#d.objects.delete(upload.objectKey);
        await this.#d.db.delete(uploads).where(eq(uploads.id, upload.id));
      },
    );
  }
}
