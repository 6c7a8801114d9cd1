/**
 * Webhooks (issue 9): the endpoints users subscribe, and one delivery row per
 * (event, endpoint), written by the dispatcher's intake before anything is
 * sent. Re-exported from schema.ts, which drizzle-kit reads. PostgreSQL 15
 * SQL only. `owner_id` is not a foreign key, like api_keys.user_id.
 *
 * - `webhook_endpoints.lease_owner/lease_until`: the dispatcher instance that
 *   sends to this endpoint now (one delivery in flight per endpoint); an
 *   expired lease (its holder died) is taken over by another instance.
 * - `webhook_deliveries.event_seq`: the event's stream sequence; deliveries
 *   of one endpoint and one `order_key` are sent in that order.
 */
import { sql } from 'drizzle-orm';
import { bigint, check, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

export const WEBHOOK_ENDPOINT_STATUSES = ['enabled', 'disabled'] as const;
export type WebhookEndpointStatus = (typeof WEBHOOK_ENDPOINT_STATUSES)[number];

/** `pending` (due at next_attempt_at), `succeeded`, or `failed`: the schedule ran out (the dead-letter list). */
export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'succeeded', 'failed'] as const;
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];

/** One attempt as the delivery log shows it. */
export interface WebhookAttemptRecord {
  readonly at: string;
  readonly responseStatus: number | null;
  readonly latencyMs: number;
  readonly error: string | null;
}

export const webhookEndpoints = pgTable(
  'webhook_endpoints',
  {
    id: uuid('id').primaryKey(),
    ownerId: uuid('owner_id').notNull(),
    url: text('url').notNull(),
    description: text('description'),
    /** Exact event types or `prefix.*` patterns. */
    events: text('events').array().notNull(),
    status: text('status').$type<WebhookEndpointStatus>().notNull().default('enabled'),
    disabledReason: text('disabled_reason'),
    /** The signing secret, sealed (src/webhooks/secret-box.ts). */
    secret: text('secret').notNull(),
    /** The secret before the last rotation; it still signs until previous_secret_until. */
    previousSecret: text('previous_secret'),
    previousSecretUntil: at('previous_secret_until'),
    /** First failed attempt since the last success; null while healthy. */
    failingSince: at('failing_since'),
    leaseOwner: text('lease_owner'),
    leaseUntil: at('lease_until'),
    createdAt: at('created_at').defaultNow().notNull(),
    updatedAt: at('updated_at').defaultNow().notNull(),
  },
  (t) => [
    index('webhook_endpoints_owner_idx').on(t.ownerId, t.createdAt),
    check('webhook_endpoints_status_check', sql`${t.status} in ('enabled', 'disabled')`),
  ],
);

export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: uuid('id').primaryKey(),
    endpointId: uuid('endpoint_id')
      .notNull()
      .references(() => webhookEndpoints.id, { onDelete: 'cascade' }),
    /** The event's id: the `webhook-id` of every attempt and replay. */
    eventId: text('event_id').notNull(),
    eventType: text('event_type').notNull(),
    orderKey: text('order_key').notNull(),
    eventSeq: bigint('event_seq', { mode: 'number' }).notNull(),
    /** The exact JSON body sent: `{type,timestamp,data}`. */
    body: text('body').notNull(),
    status: text('status').$type<WebhookDeliveryStatus>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: at('next_attempt_at'),
    lastResponseStatus: integer('last_response_status'),
    lastLatencyMs: integer('last_latency_ms'),
    lastError: text('last_error'),
    /** The newest attempts (bounded), oldest first. */
    attemptLog: jsonb('attempt_log').$type<WebhookAttemptRecord[]>().notNull().default(sql`'[]'::jsonb`),
    createdAt: at('created_at').defaultNow().notNull(),
    deliveredAt: at('delivered_at'),
  },
  (t) => [
    // Intake is idempotent: an event redelivered by JetStream after a crash adds nothing.
    uniqueIndex('webhook_deliveries_endpoint_event_idx').on(t.endpointId, t.eventId),
    // The sender's scan: one endpoint's pending deliveries in event order.
    index('webhook_deliveries_pending_idx').on(t.endpointId, t.eventSeq).where(sql`${t.status} = 'pending'`),
    // "Is an older delivery of this order key still pending?" (order per endpoint and key).
    index('webhook_deliveries_pending_key_idx').on(t.endpointId, t.orderKey, t.eventSeq).where(sql`${t.status} = 'pending'`),
    // The delivery log, newest first.
    index('webhook_deliveries_log_idx').on(t.endpointId, t.createdAt),
    check('webhook_deliveries_status_check', sql`${t.status} in ('pending', 'succeeded', 'failed')`),
  ],
);

/**
 * How far the dispatcher's intake has read the outbound-events stream: the
 * last stream sequence whose deliveries are recorded, advanced in the same
 * transaction as those deliveries (compare-and-set, so an intake that lost
 * its lease cannot write). A new intake resumes at `last_seq + 1`, in order.
 */
export const webhookIntake = pgTable('webhook_intake', {
  stream: text('stream').primaryKey(),
  lastSeq: bigint('last_seq', { mode: 'number' }).notNull(),
  updatedAt: at('updated_at').defaultNow().notNull(),
});
