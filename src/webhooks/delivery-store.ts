/**
 * The deliveries in PostgreSQL, as the dispatcher uses them: intake records
 * one row per (event, matching endpoint) and advances its stream cursor in
 * the same transaction; senders lease endpoints (one sender per endpoint,
 * so one delivery in flight per endpoint), take the due deliveries of all
 * the endpoints they hold in event order, and record attempts. The hot
 * statements (due, record, renew) each serve many endpoints or deliveries
 * at once: per-delivery round trips were the dispatcher's ceiling.
 */
import { and, eq, sql, type SQL } from 'drizzle-orm';
import type { LoomDatabase } from '../storage/index.ts';
import { webhookDeliveries, webhookEndpoints, webhookIntake, type WebhookAttemptRecord } from '../storage/postgres/webhooks-schema.ts';

/** Attempts kept per delivery in its log (the count keeps going). */
export const MAX_ATTEMPT_LOG = 20;

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

/** One attempt to record: `retryInMs` null with a failure dead-letters the delivery. */
export interface RecordedAttempt {
  readonly delivery: DueDelivery;
  readonly attempt: WebhookAttemptRecord & { readonly ok: boolean };
  readonly retryInMs: number | null;
}

/** Ids as one `uuid[]` parameter (one placeholder however many ids). */
function uuidList(ids: readonly string[]): SQL {
  return sql`string_to_array(${ids.join(',')}, ',')::uuid[]`;
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
      // One array parameter, not one per owner: this runs for every intake batch.
      .where(and(sql`${webhookEndpoints.ownerId} = any(${uuidList(ownerIds)})`, eq(webhookEndpoints.status, 'enabled')));
  }

  /**
   * Records deliveries and moves the cursor from `fromSeq` to `toSeq`, atomically, in one
   * statement (one round trip: the intake's latency is on every event's path).
   * @returns false (nothing written) when the cursor was not at `fromSeq`: another intake moved it.
   */
  async recordIntake(stream: string, fromSeq: number, toSeq: number, deliveries: readonly NewDelivery[]): Promise<boolean> {
    const moveCursor =
      fromSeq === 0
        ? sql`insert into ${webhookIntake} (stream, last_seq) values (${stream}, ${toSeq}) on conflict do nothing returning 1`
        : sql`update ${webhookIntake} set last_seq = ${toSeq}, updated_at = now() where stream = ${stream} and last_seq = ${fromSeq} returning 1`;
    // One JSON parameter: the query builder's per-value work was the intake's main cost.
    const rows = deliveries.map((d) => ({
      id: d.id,
      endpoint_id: d.endpointId,
      event_id: d.eventId,
      event_type: d.eventType,
      order_key: d.orderKey,
      event_seq: d.eventSeq,
      body: d.body,
    }));
    // A data-modifying CTE runs once and to completion; the insert writes only if the cursor moved.
    const result = await this.#rows(sql`
      with moved as (${moveCursor}),
      added as (
        insert into ${webhookDeliveries} (id, endpoint_id, event_id, event_type, order_key, event_seq, body, next_attempt_at)
        select v.id, v.endpoint_id, v.event_id, v.event_type, v.order_key, v.event_seq, v.body, now()
        from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
          as v(id uuid, endpoint_id uuid, event_id text, event_type text, order_key text, event_seq bigint, body text)
        where exists (select 1 from moved)
        on conflict do nothing
      )
      select exists (select 1 from moved) as moved`);
    return result[0]?.['moved'] === true;
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
    const rows = await this.#rows(sql`
      update ${webhookEndpoints} set lease_owner = ${owner}, lease_until = now() + ${ttlMs} * interval '1 millisecond'
      where id in (
        select e.id from ${webhookEndpoints} e
        where e.status = 'enabled' and (e.lease_until is null or e.lease_until < now())
          and exists (select 1 from ${webhookDeliveries} d where d.endpoint_id = e.id and d.status = 'pending' and d.next_attempt_at <= now())
        limit ${max}
        for update skip locked
      )
      returning id`);
    return rows.map((r) => String(r['id']));
  }

  /**
   * Extends this sender's leases on these endpoints, in one statement.
   * @returns the ids still leased to `owner` (a lease that lapsed and was taken by another sender is not).
   */
  async renewLeases(endpointIds: readonly string[], owner: string, ttlMs: number): Promise<string[]> {
    if (endpointIds.length === 0) return [];
    const rows = await this.#rows(
      sql`update ${webhookEndpoints} set lease_until = now() + ${ttlMs} * interval '1 millisecond'
          where id = any(${uuidList(endpointIds)}) and lease_owner = ${owner} returning id`,
    );
    return rows.map((r) => String(r['id']));
  }

  async releaseLeases(endpointIds: readonly string[], owner: string): Promise<void> {
    if (endpointIds.length === 0) return;
    await this.db.execute(
      sql`update ${webhookEndpoints} set lease_owner = null, lease_until = null where id = any(${uuidList(endpointIds)}) and lease_owner = ${owner}`,
    );
  }

  /**
   * What `owner` needs to send to the endpoints it holds, in one statement:
   * each endpoint whose lease is still `owner`'s and live, and (for enabled
   * ones) up to `maxPerEndpoint` due deliveries in event order, leaving out
   * any whose order key has an older delivery still pending (it goes first).
   * An endpoint missing from the answer is no longer leased to `owner`.
   */
  async dueFor(endpointIds: readonly string[], owner: string, maxPerEndpoint: number): Promise<Map<string, { target: SendTarget; due: DueDelivery[] }>> {
    const out = new Map<string, { target: SendTarget; due: DueDelivery[] }>();
    if (endpointIds.length === 0) return out;
    const rows = await this.#rows(sql`
      select e.id, e.owner_id, e.url, e.status, e.secret, e.previous_secret,
        (extract(epoch from e.previous_secret_until) * 1000)::float8 as previous_secret_until_ms,
        (extract(epoch from e.failing_since) * 1000)::float8 as failing_since_ms,
        x.id as delivery_id, x.event_id, x.order_key, x.body, x.attempts, x.attempt_log
      from ${webhookEndpoints} e
      left join lateral (
        select d.id, d.event_id, d.order_key, d.body, d.attempts, d.attempt_log, d.event_seq, d.created_at
        from ${webhookDeliveries} d
        where d.endpoint_id = e.id and d.status = 'pending' and d.next_attempt_at <= now()
          and not exists (select 1 from ${webhookDeliveries} o where o.endpoint_id = d.endpoint_id and o.status = 'pending' and o.order_key = d.order_key and o.event_seq < d.event_seq)
        order by d.event_seq, d.created_at
        limit ${maxPerEndpoint}
      ) x on e.status = 'enabled'
      where e.id = any(${uuidList(endpointIds)}) and e.lease_owner = ${owner} and e.lease_until > now()
      order by e.id, x.event_seq, x.created_at`);
    for (const r of rows) {
      const id = String(r['id']);
      let entry = out.get(id);
      if (entry === undefined) {
        const at = (v: unknown) => (v === null || v === undefined ? null : new Date(Number(v)));
        const target: SendTarget = {
          id,
          ownerId: String(r['owner_id']),
          url: String(r['url']),
          status: String(r['status']),
          secret: String(r['secret']),
          previousSecret: r['previous_secret'] === null ? null : String(r['previous_secret']),
          previousSecretUntil: at(r['previous_secret_until_ms']),
          failingSince: at(r['failing_since_ms']),
        };
        entry = { target, due: [] };
        out.set(id, entry);
      }
      if (r['delivery_id'] === null) continue;
      entry.due.push({
        id: String(r['delivery_id']),
        eventId: String(r['event_id']),
        orderKey: String(r['order_key']),
        body: String(r['body']),
        attempts: Number(r['attempts']),
        attemptLog: Array.isArray(r['attempt_log']) ? (r['attempt_log'] as WebhookAttemptRecord[]) : [],
      });
    }
    return out;
  }

  /**
   * Records attempts of many deliveries in one statement. A delivery no
   * longer pending (a replay or a racing sender moved it) is left alone.
   */
  async recordAttempts(attempts: readonly RecordedAttempt[]): Promise<void> {
    if (attempts.length === 0) return;
    const rows = attempts.map(({ delivery, attempt: a, retryInMs }) => {
      // jsonb refuses \u0000, and no log needs it.
      const attempt = { ...a, error: a.error?.replaceAll('\0', '') ?? null };
      const entry = { at: attempt.at, responseStatus: attempt.responseStatus, latencyMs: attempt.latencyMs, error: attempt.error };
      return {
        id: delivery.id,
        status: attempt.ok ? 'succeeded' : retryInMs === null ? 'failed' : 'pending',
        ok: attempt.ok,
        response_status: attempt.responseStatus,
        latency_ms: attempt.latencyMs,
        error: attempt.error,
        retry_in_ms: retryInMs ?? 0,
        attempt_log: [...delivery.attemptLog, entry].slice(-MAX_ATTEMPT_LOG),
      };
    });
    // One JSON parameter, whatever the batch size: cheap to build and under any parameter limit.
    await this.db.execute(sql`
      update ${webhookDeliveries} d set
        status = v.status,
        attempts = d.attempts + 1,
        last_response_status = v.response_status,
        last_latency_ms = v.latency_ms,
        last_error = v.error,
        attempt_log = v.attempt_log,
        next_attempt_at = case when v.status = 'pending' then now() + v.retry_in_ms * interval '1 millisecond' end,
        delivered_at = case when v.ok then now() end
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
        as v(id uuid, status text, ok boolean, response_status integer, latency_ms integer, error text, retry_in_ms float8, attempt_log jsonb)
      where d.id = v.id and d.status = 'pending'`);
  }

  /** Marks an endpoint failing since now (kept if already failing), or healthy again. */
  async markFailing(endpointId: string, failing: boolean): Promise<void> {
    const e = webhookEndpoints;
    await this.db
      .update(e)
      .set({ failingSince: failing ? sql`coalesce(${e.failingSince}, now())` : null })
      .where(eq(e.id, endpointId));
  }

  /** Rows of a raw statement (both drivers answer `{ rows }`; the database type leaves it unknown). */
  async #rows(statement: SQL): Promise<Array<Record<string, unknown>>> {
    const result: unknown = await this.db.execute(statement);
    const rows = (result as { rows?: unknown }).rows;
    return Array.isArray(rows) ? (rows as Array<Record<string, unknown>>) : [];
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
