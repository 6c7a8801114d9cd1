/**
 * The audit log: security-relevant actions (logins, failed logins, refresh
 * token reuse, API key creation and revocation, shares, unshares, deletions)
 * appended to the `audit_log` table and read back per target by whoever owns
 * the target (the route checks that; see routes/audit.ts).
 *
 * Callers never put secrets in `detail` (no passwords, tokens or keys):
 * it is shown to the resource owner as is.
 */
import { and, desc, eq, lt } from 'drizzle-orm';
import type { Logger } from '../log.ts';
import { auditLog, type LoomDatabase } from '../storage/index.ts';
import type { Principal } from './principal.ts';

/** Every action the log records. Add new ones here (additive). */
export const AUDIT_ACTIONS = [
  'auth.register',
  'auth.login',
  'auth.login-failed',
  'auth.logout',
  'auth.refresh-reused',
  'api-key.create',
  'api-key.revoke',
  'doc.create',
  'doc.delete',
  'doc.share',
  'doc.unshare',
  'doc.restore',
  'doc.revert',
  'job.delete',
  'job.create',
  'job.cancel',
  'job.approve',
  'account.export',
  'account.delete',
  'doc.transfer',
  'webhook.create',
  'webhook.delete',
  'webhook.rotate-secret',
  // The dispatcher disabled an endpoint (410, or failing past the retry schedule); recorded about its owner.
  'webhook.disable',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Kinds of resources an entry can be about. */
export const AUDIT_TARGET_TYPES = ['user', 'api-key', 'doc', 'job'] as const;
export type AuditTargetType = (typeof AUDIT_TARGET_TYPES)[number];

/** Largest `detail` kept, serialized; a bigger one is replaced by a marker. */
export const MAX_AUDIT_DETAIL_CHARS = 4_096;

/** Who acted: a principal, or bare ids (userId null for anonymous attempts). */
export type AuditActor = Pick<Principal, 'userId' | 'keyId'> | { readonly userId: string | null; readonly keyId?: string | undefined };

/** One action to record. */
export interface AuditEvent {
  readonly action: AuditAction;
  readonly actor: AuditActor | null;
  readonly targetType: AuditTargetType;
  readonly targetId: string | null;
  /** The client's address, when the action came over HTTP or WebSocket. */
  readonly ip?: string | undefined;
  /** Non-secret context (e.g. the member and role of a share). */
  readonly detail?: Readonly<Record<string, unknown>> | undefined;
}

/** A recorded action, as returned by {@link AuditLog.list}. */
export interface AuditEntry {
  readonly id: number;
  readonly at: Date;
  readonly actorUserId: string | null;
  readonly actorKeyId: string | null;
  readonly action: string;
  readonly targetType: string;
  readonly targetId: string | null;
  readonly ip: string | null;
  readonly detail: Record<string, unknown> | null;
}

/** Appends to and reads the audit table. */
export class AuditLog {
  readonly #db: LoomDatabase;
  readonly #now: () => number;
  readonly #log: Logger;

  constructor(opts: { db: LoomDatabase; log: Logger; now?: () => number }) {
    this.#db = opts.db;
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log;
  }

  /**
   * Appends one entry. Pass a transaction as `executor` to record atomically
   * with the change it describes (e.g. a share and its audit row).
   * @throws the database error when the row cannot be written (callers fail the action).
   */
  async record(event: AuditEvent, executor: LoomDatabase = this.#db): Promise<void> {
    let detail = event.detail === undefined ? null : { ...event.detail };
    if (detail !== null && JSON.stringify(detail).length > MAX_AUDIT_DETAIL_CHARS) detail = { truncated: true };
    await executor.insert(auditLog).values({
      at: new Date(this.#now()),
      actorUserId: event.actor?.userId ?? null,
      actorKeyId: event.actor?.keyId ?? null,
      action: event.action,
      targetType: event.targetType,
      targetId: event.targetId,
      ip: event.ip ?? null,
      detail,
    });
    this.#log.info({ action: event.action, targetType: event.targetType, targetId: event.targetId, actor: event.actor?.userId ?? null }, 'audit');
  }

  /**
   * Entries about one target, newest first.
   * @param query.beforeId cursor: only entries older than this id (from the previous page's last entry).
   */
  async list(query: { targetType: AuditTargetType; targetId: string; limit: number; beforeId?: number | undefined }): Promise<AuditEntry[]> {
    const t = auditLog;
    const where = and(eq(t.targetType, query.targetType), eq(t.targetId, query.targetId), query.beforeId === undefined ? undefined : lt(t.id, query.beforeId));
    return this.#db.select().from(t).where(where).orderBy(desc(t.id)).limit(query.limit);
  }
}
