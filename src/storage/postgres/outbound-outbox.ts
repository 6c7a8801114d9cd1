/**
 * Writes an outbound event into the outbox (outbound-outbox-schema.ts)
 * inside the caller's transaction, so the event is recorded exactly when
 * the fact it tells of is committed. The event id is the row's own random
 * id; the relay publishes it as Nats-Msg-Id.
 */
import { randomUUID } from 'node:crypto';
import { outboundEventSchema, type OutboundEvent } from '../../../protocol/outbound-events.ts';
import type { LoomDatabase } from './database.ts';
import { outboundOutbox } from './outbound-outbox-schema.ts';

/** A database or an open transaction (both insert). */
export type OutboxWriter = Pick<LoomDatabase, 'insert'>;

/** What a fact's writer says; the id and timestamp are made here. */
export interface NewOutboxEvent {
  readonly type: string;
  readonly ownerIds: readonly string[];
  readonly orderKey: string;
  readonly data: Record<string, unknown>;
  readonly at: Date;
}

/**
 * Inserts the event; call it with the transaction that makes the fact true.
 * @throws ZodError when the event breaks the contract (a bug in the caller, never user input).
 */
export async function recordOutboxEvent(tx: OutboxWriter, event: NewOutboxEvent): Promise<OutboundEvent> {
  const full = outboundEventSchema.parse({
    id: `outbox-${randomUUID()}`,
    type: event.type,
    timestamp: event.at.toISOString(),
    ownerIds: [...new Set(event.ownerIds)],
    orderKey: event.orderKey,
    data: event.data,
  });
  await tx.insert(outboundOutbox).values({ eventId: full.id, event: full });
  return full;
}
