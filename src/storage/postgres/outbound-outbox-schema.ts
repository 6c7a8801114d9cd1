/**
 * The outbox of outbound events whose fact becomes true in PostgreSQL
 * (issue 9): a member added to or removed from a document, an upload
 * completed. The row is written in the same transaction as the fact, so
 * the event exists exactly when the fact does; the outbox relay
 * (src/outbound-events/outbox-relay.ts) publishes unsent rows in `seq`
 * order to JetStream with the event id as Nats-Msg-Id, then sets
 * `sent_at`. Re-exported from schema.ts, which drizzle-kit reads.
 * PostgreSQL 15 SQL only.
 */
import { sql } from 'drizzle-orm';
import { bigserial, index, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** One recorded outbound event, unsent until `sent_at` is set. */
export const outboundOutbox = pgTable(
  'outbound_outbox',
  {
    /** Publication order: the relay sends unsent rows by ascending seq. */
    seq: bigserial('seq', { mode: 'number' }).primaryKey(),
    /** The event's id (also its Nats-Msg-Id and webhook-id). */
    eventId: text('event_id').notNull().unique('outbound_outbox_event_id_key'),
    /** The whole event as protocol/outbound-events.ts shapes it, validated before insert. */
    event: jsonb('event').notNull(),
    createdAt: at('created_at').defaultNow().notNull(),
    sentAt: at('sent_at'),
  },
  // The relay's scan: unsent rows in seq order, without reading sent ones.
  (t) => [index('outbound_outbox_unsent_idx').on(t.seq).where(sql`${t.sentAt} is null`)],
);
