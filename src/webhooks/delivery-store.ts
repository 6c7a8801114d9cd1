/**
 * The deliveries in PostgreSQL, as the dispatcher uses them: intake records
 * one row per (event, matching endpoint) and advances its stream cursor in
 * the same transaction; senders lease endpoints (one sender per endpoint,
 * so one delivery in flight per endpoint), take an endpoint's due
 * deliveries in event order, and record each attempt.
 */
import { and, asc, eq, inArray, isNull, lt, lte, or, sql } from 'drizzle-orm';
import { TransactionRollbackError } from 'drizzle-orm/errors';
import type { LoomDatabase } from '../storage/index.ts';
import { webhookDeliveries, webhookEndpoints, webhookIntake, type WebhookAttemptRecord } from '../storage/postgres/webhooks-schema.ts';

/** Attempts kept per delivery in its log (the count keeps going). */
export const MAX_ATTEMPT_LOG = 20;
/** Rows per insert statement (PostgreSQL allows 65,535 parameters). */
const INSERT_CHUNK = 1_000;

export interface NewDelivery {
  readonly id: string;
  readonly endpointId: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly orderKey: string;
  readonly eventSeq: number;
  readonly body: string;
}

export interface DueDelivery {
  readonly id: string;
  readonly eventId: string;
  readonly orderKey: string;
  readonly body: string;
  readonly attempts: number;
  readonly attemptLog: readonly WebhookAttemptRecord[];
}

export interface SendTarget {
  readonly id: string;
  readonly ownerId: string;
  readonly url: string;
  readonly status: string;
  readonly secret: string;
  readonly previousSecret: string | null;
  readonly previousSecretUntil: Date | null;
  readonly failingSince: Date | null;
}

export interface EndpointSubscription {
  readonly id: string;
  readonly ownerId: string;
  readonly events: readonly string[];
}

export class DeliveryStore {
  constructor(private readonly db: LoomDatabase) {}

  /** The last stream seq intake recorded (0 before the first). */
  async intakeCursor(stream: string): Promise<number> {
    const rows = await this.db.select({ lastSeq: webhookIntake.lastSeq }).from(webhookIntake).where(eq(webhookIntake.stream, stream));
    return rows[0]?.lastSeq ?? 0;
  }

  /** Enabled endpoints of these owners. */
  async subscriptions(ownerIds: readonly string[]): Promise<EndpointSubscription[]> {
    if (ownerIds.length === 0) return [];
    return this.db
      .select({ id: webhookEndpoints.id, ownerId: webhookEndpoints.ownerId, events: webhookEndpoints.events })
      .from(webhookEndpoints)
      .where(and(inArray(webhookEndpoints.ownerId, [...ownerIds]), eq(webhookEndpoints.status, 'enabled')));
  }

  /**
   * Records deliveries and moves the cursor from `fromSeq` to `toSeq`, atomically.
   * @returns false (nothing written) when the cursor was not at `fromSeq`: another intake moved it.
   */
  async recordIntake(stream: string, fromSeq: number, toSeq: number, deliveries: readonly NewDelivery[]): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const moved =
        fromSeq === 0
          ? await tx.insert(webhookIntake).values({ stream, lastSeq: toSeq }).onConflictDoNothing().returning({ s: webhookIntake.lastSeq })
          : await tx
              .update(webhookIntake)
              .set({ lastSeq: toSeq, updatedAt: new Date() })
              .where(and(eq(webhookIntake.stream, stream), eq(webhookIntake.lastSeq, fromSeq)))
              .returning({ s: webhookIntake.lastSeq });
      if (moved.length === 0) {
        tx.rollback();
        return false;
      }
      for (let i = 0; i < deliveries.length; i += INSERT_CHUNK) {
        const chunk = deliveries.slice(i, i + INSERT_CHUNK).map((d) => ({ ...d, nextAttemptAt: sql`now()` }));
        await tx.insert(webhookDeliveries).values(chunk).onConflictDoNothing();
      }
      return true;
    }).catch((err: unknown) => {
      // drizzle's rollback() throws to leave the transaction; that is the "not moved" answer.
      if (err instanceof TransactionRollbackError) return false;
      throw err;
    });
  }

  /** One delivery outside the stream (a `webhook.test`), due now. */
  async insertOne(delivery: NewDelivery): Promise<void> {
    await this.db.insert(webhookDeliveries).values({ ...delivery, nextAttemptAt: sql`now()` });
  }

  /**
   * Leases up to `max` enabled endpoints that have a due delivery and no live lease.
   * @returns their ids.
   */
  async claimEndpoints(owner: string, max: number, ttlMs: number): Promise<string[]> {
    const e = webhookEndpoints;
    const due = this.db
      .select({ id: e.id })
      .from(e)
      .where(
        and(
          eq(e.status, 'enabled'),
          or(isNull(e.leaseUntil), lt(e.leaseUntil, sql`now()`)),
          sql`exists (select 1 from ${webhookDeliveries} d where d.endpoint_id = ${e.id} and d.status = 'pending' and d.next_attempt_at <= now())`,
        ),
      )
      .limit(max)
      .for('update', { skipLocked: true });
    const rows = await this.db
      .update(e)
      .set({ leaseOwner: owner, leaseUntil: sql`now() + ${ttlMs} * interval '1 millisecond'` })
      .where(inArray(e.id, due))
      .returning({ id: e.id });
    return rows.map((r) => r.id);
  }

  /**
   * Extends this sender's lease and reads what it needs to send.
   * @returns null when the lease is no longer ours (it expired and another sender took it).
   */
  async renew(endpointId: string, owner: string, ttlMs: number): Promise<SendTarget | null> {
    const e = webhookEndpoints;
    const rows = await this.db
      .update(e)
      .set({ leaseUntil: sql`now() + ${ttlMs} * interval '1 millisecond'` })
      .where(and(eq(e.id, endpointId), eq(e.leaseOwner, owner)))
      .returning({
        id: e.id,
        ownerId: e.ownerId,
        url: e.url,
        status: e.status,
        secret: e.secret,
        previousSecret: e.previousSecret,
        previousSecretUntil: e.previousSecretUntil,
        failingSince: e.failingSince,
      });
    return rows[0] ?? null;
  }

  async release(endpointId: string, owner: string): Promise<void> {
    const e = webhookEndpoints;
    await this.db.update(e).set({ leaseOwner: null, leaseUntil: null }).where(and(eq(e.id, endpointId), eq(e.leaseOwner, owner)));
  }

  /**
   * Due deliveries of one endpoint in event order, leaving out any whose
   * order key has an older delivery still pending (it goes first).
   */
  async due(endpointId: string, max: number): Promise<DueDelivery[]> {
    const d = webhookDeliveries;
    return this.db
      .select({ id: d.id, eventId: d.eventId, orderKey: d.orderKey, body: d.body, attempts: d.attempts, attemptLog: d.attemptLog })
      .from(d)
      .where(
        and(
          eq(d.endpointId, endpointId),
          eq(d.status, 'pending'),
          lte(d.nextAttemptAt, sql`now()`),
          sql`not exists (select 1 from ${d} o where o.endpoint_id = ${d.endpointId} and o.status = 'pending' and o.order_key = ${d.orderKey} and o.event_seq < ${d.eventSeq})`,
        ),
      )
      .orderBy(asc(d.eventSeq), asc(d.createdAt))
      .limit(max);
  }

  /**
   * Records one attempt. `retryInMs` null with a failure dead-letters the delivery.
   * @returns whether the delivery was still pending (a replay or a racing sender may have moved it).
   */
  async recordAttempt(
    delivery: DueDelivery,
    endpointId: string,
    attempt: WebhookAttemptRecord & { ok: boolean },
    retryInMs: number | null,
    /** The endpoint had no failure since its last success: a success changes nothing on it. */
    wasHealthy: boolean,
  ): Promise<boolean> {
    const d = webhookDeliveries;
    const log = [...delivery.attemptLog, { at: attempt.at, responseStatus: attempt.responseStatus, latencyMs: attempt.latencyMs, error: attempt.error }].slice(-MAX_ATTEMPT_LOG);
    const status = attempt.ok ? 'succeeded' : retryInMs === null ? 'failed' : 'pending';
    const rows = await this.db
      .update(d)
      .set({
        status,
        attempts: sql`${d.attempts} + 1`,
        lastResponseStatus: attempt.responseStatus,
        lastLatencyMs: attempt.latencyMs,
        lastError: attempt.error,
        attemptLog: log,
        nextAttemptAt: status === 'pending' ? sql`now() + ${retryInMs ?? 0} * interval '1 millisecond'` : null,
        deliveredAt: attempt.ok ? sql`now()` : null,
      })
      .where(and(eq(d.id, delivery.id), eq(d.status, 'pending')))
      .returning({ id: d.id });
    const e = webhookEndpoints;
    if (!(attempt.ok && wasHealthy)) {
      await this.db
        .update(e)
        .set({ failingSince: attempt.ok ? null : sql`coalesce(${e.failingSince}, now())` })
        .where(eq(e.id, endpointId));
    }
    return rows.length > 0;
  }

  /** Disables an endpoint the dispatcher gave up on. @returns false when it was already disabled. */
  async disable(endpointId: string, reason: string): Promise<boolean> {
    const e = webhookEndpoints;
    const rows = await this.db
      .update(e)
      .set({ status: 'disabled', disabledReason: reason, leaseOwner: null, leaseUntil: null, updatedAt: new Date() })
      .where(and(eq(e.id, endpointId), eq(e.status, 'enabled')))
      .returning({ id: e.id });
    return rows.length > 0;
  }
}
