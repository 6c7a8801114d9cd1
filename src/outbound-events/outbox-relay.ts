/**
 * Publishes the PostgreSQL outbox (storage/postgres/outbound-outbox-schema.ts)
 * to the outbound stream: unsent rows in `seq` order, each with its event id
 * as Nats-Msg-Id, then marks them sent. A crash between publishing and
 * marking publishes them again with the same ids, which the stream's
 * duplicate window collapses. Sent rows are kept for an hour (what was told
 * recently can be looked at), then deleted.
 *
 * Order: rows of one fact's subject (one document's members) keep their
 * commit order only as far as `seq` (taken at insert) matches it; two
 * transactions on one document that commit at the same moment may be
 * published in insert order instead.
 */
import { and, asc, inArray, isNotNull, isNull, lt } from 'drizzle-orm';
import { outboundEventSchema } from '../../protocol/outbound-events.ts';
import type { Logger } from '../log.ts';
import { outboundOutbox, type LoomDatabase } from '../storage/index.ts';
import { pause } from '../pause.ts';
import { OutboundEventRefusedError, type OutboundPublisher } from './outbound-publisher.ts';

const BATCH = 100;
const KEEP_SENT_MS = 3_600_000;
/** Sweeps of sent rows happen once per this many polls. */
const PRUNE_EVERY = 200;

export interface OutboxRelayDeps {
  readonly db: LoomDatabase;
  readonly publisher: OutboundPublisher;
  readonly log: Logger;
  /** Wait between polls when the outbox is empty. */
  readonly pollMs: number;
}

/**
 * Relays until `signal` aborts.
 * @throws when the database or the stream fails (the runner restarts it).
 */
export async function runOutboxRelay(deps: OutboxRelayDeps, signal: AbortSignal): Promise<void> {
  const { db, log } = deps;
  log.info('outbox relay started');
  let polls = 0;
  while (!signal.aborted) {
    if (polls++ % PRUNE_EVERY === 0) await pruneSent(db, log);
    const rows = await db
      .select({ seq: outboundOutbox.seq, eventId: outboundOutbox.eventId, event: outboundOutbox.event })
      .from(outboundOutbox)
      .where(isNull(outboundOutbox.sentAt))
      .orderBy(asc(outboundOutbox.seq))
      .limit(BATCH);
    const done: number[] = [];
    for (const row of rows) {
      if (signal.aborted) break;
      const parsed = outboundEventSchema.safeParse(row.event);
      if (!parsed.success) {
        log.error({ err: parsed.error, seq: row.seq, eventId: row.eventId }, 'outbox row is not an outbound event; marked sent without publishing');
      } else {
        try {
          await deps.publisher.publish(parsed.data);
        } catch (err) {
          if (!(err instanceof OutboundEventRefusedError)) throw err;
          log.error({ err, seq: row.seq, eventId: row.eventId }, 'outbox event refused by the contract; marked sent without publishing');
        }
      }
      done.push(row.seq);
    }
    if (done.length > 0) await db.update(outboundOutbox).set({ sentAt: new Date() }).where(inArray(outboundOutbox.seq, done));
    if (rows.length < BATCH) await pause(deps.pollMs, signal);
  }
  log.info('outbox relay stopped');
}

async function pruneSent(db: LoomDatabase, log: Logger): Promise<void> {
  const removed = await db
    .delete(outboundOutbox)
    .where(and(isNotNull(outboundOutbox.sentAt), lt(outboundOutbox.sentAt, new Date(Date.now() - KEEP_SENT_MS))))
    .returning({ seq: outboundOutbox.seq });
  if (removed.length > 0) log.debug({ removed: removed.length }, 'sent outbox rows pruned');
}
