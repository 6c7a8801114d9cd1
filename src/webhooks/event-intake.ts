/**
 * The reading half of the dispatcher: turns outbound events into delivery
 * rows. One process at a time reads (it holds the `task.webhook-intake`
 * lease in the actor lease bucket; the others wait to take over), with an
 * ordered consumer starting after the cursor kept in PostgreSQL. Each batch
 * of events is recorded together with the cursor's advance in one
 * transaction, so after any crash the next reader resumes exactly after the
 * last recorded event, in stream order: no event is skipped, none recorded
 * twice, and deliveries of one order key are never recorded out of order.
 */
import { randomUUID } from 'node:crypto';
import { DeliverPolicy, type JetStreamClient, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { decodeOutboundEvent, OUTBOUND_EVENTS_STREAM, type OutboundEvent } from '../../protocol/outbound-events.ts';
import type { Logger } from '../log.ts';
import { fromNatsHeaders } from '../nats/headers.ts';
import { acquireLease } from '../placement/lease.ts';
import type { DeliveryStore, EndpointSubscription, NewDelivery } from './delivery-store.ts';
import { matchesEventPatterns } from './event-patterns.ts';

/** Key of the intake's lease in the actor lease bucket. */
export const INTAKE_LEASE_KEY = 'task.webhook-intake';
/** Events recorded per transaction at most. */
const MAX_BATCH = 500;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface EventIntakeOptions {
  readonly js: JetStreamClient;
  readonly leases: KV;
  readonly store: DeliveryStore;
  readonly host: string;
  readonly leaseTtlMs: number;
  /** How often a process without the lease tries to take it. */
  readonly retryMs: number;
  /** Called after deliveries were recorded, with their endpoints (wakes the local senders). */
  readonly onRecorded: (endpointIds: readonly string[]) => void;
  readonly log: Logger;
}

/** The body POSTed to endpoints: the event without its routing fields. */
export function deliveryBody(event: Pick<OutboundEvent, 'type' | 'timestamp' | 'data'>): string {
  return JSON.stringify({ type: event.type, timestamp: event.timestamp, data: event.data });
}

export class EventIntake {
  readonly #o: EventIntakeOptions;
  #stopped = true;
  #loop: Promise<void> | undefined;
  #messages: ConsumerMessages | undefined;
  /** Ends the current read (stop, or the lease was lost). */
  #interrupt: (() => void) | undefined;
  #wait: { timer: NodeJS.Timeout; resolve: () => void } | undefined;

  constructor(opts: EventIntakeOptions) {
    this.#o = opts;
  }

  start(): void {
    this.#stopped = false;
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#wait !== undefined) {
      clearTimeout(this.#wait.timer);
      this.#wait.resolve();
    }
    this.#interrupt?.();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        await this.#leadIfFree();
      } catch (err) {
        this.#o.log.warn({ err }, 'webhook intake failed; retrying');
      }
      if (!this.#stopped) await this.#pause(this.#o.retryMs);
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wait = { timer: setTimeout(resolve, ms), resolve };
    });
  }

  async #leadIfFree(): Promise<void> {
    const lease = await acquireLease(this.#o.leases, INTAKE_LEASE_KEY, {
      host: this.#o.host,
      ttlMs: this.#o.leaseTtlMs,
      logger: this.#o.log,
      onLost: (reason) => {
        this.#o.log.warn({ reason }, 'webhook intake lease lost; stepping down');
        this.#interrupt?.();
      },
    });
    if (lease === null) return;
    lease.start();
    this.#o.log.info('webhook intake started');
    try {
      await this.#read();
    } finally {
      await lease.release();
    }
  }

  async #read(): Promise<void> {
    const { store, js } = this.#o;
    let cursor = await store.intakeCursor(OUTBOUND_EVENTS_STREAM);
    const consumer = await js.consumers.get(OUTBOUND_EVENTS_STREAM, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: cursor + 1 });
    const messages = await consumer.consume({ max_messages: MAX_BATCH });
    this.#messages = messages;
    // Waiting for the next message races this, so a stop never waits on an idle stream.
    const interrupted = new Promise<null>((resolve) => {
      this.#interrupt = () => resolve(null);
    });
    if (this.#stopped) this.#interrupt?.();
    const next = messages[Symbol.asyncIterator]();
    const pending: JsMsg[] = [];
    let flushing: Promise<void> | undefined;
    let failure: unknown;
    const flush = async (): Promise<void> => {
      while (pending.length > 0 && failure === undefined) {
        const batch = pending.splice(0, MAX_BATCH);
        const last = batch[batch.length - 1];
        if (last === undefined) return;
        const deliveries = await this.#deliveriesFor(batch);
        if (!(await store.recordIntake(OUTBOUND_EVENTS_STREAM, cursor, last.seq, deliveries))) {
          throw new Error(`webhook intake cursor moved under us (expected ${cursor}); another intake is running`);
        }
        cursor = last.seq;
        if (deliveries.length > 0) this.#o.onRecorded([...new Set(deliveries.map((d) => d.endpointId))]);
      }
    };
    for (;;) {
      const got = await Promise.race([next.next(), interrupted]);
      if (got === null || got.done === true || this.#stopped || failure !== undefined) break;
      const msg = got.value;
      pending.push(msg);
      // Batch what arrives while the previous batch is being written.
      flushing ??= flush()
        .catch((err: unknown) => {
          failure = err;
          this.#interrupt?.();
        })
        .finally(() => {
          flushing = undefined;
        });
      if (pending.length >= MAX_BATCH * 4) await flushing;
    }
    // The consumer is ephemeral: closing it is tidiness, not correctness, so it is not waited for.
    messages.close().catch((err: unknown) => this.#o.log.debug({ err }, 'closing the intake consumer failed'));
    await flushing;
    if (pending.length > 0 && failure === undefined && !this.#stopped) await flush();
    if (failure !== undefined) throw failure;
  }

  async #deliveriesFor(batch: readonly JsMsg[]): Promise<NewDelivery[]> {
    const events: Array<{ event: OutboundEvent; seq: number }> = [];
    for (const msg of batch) {
      try {
        events.push({ event: decodeOutboundEvent(msg.data, fromNatsHeaders(msg.headers)), seq: msg.seq });
      } catch (err) {
        // A malformed event can never be delivered; recording it as skipped (by moving past it) is the only way on.
        this.#o.log.error({ err, seq: msg.seq, subject: msg.subject }, 'outbound event refused; skipped');
      }
    }
    // Owners are user ids (uuids); anything else owns no endpoint.
    const ownersOf = (event: OutboundEvent) => [...new Set(event.ownerIds.filter((id) => UUID.test(id)).map((id) => id.toLowerCase()))];
    const byOwner = new Map<string, EndpointSubscription[]>();
    for (const endpoint of await this.#o.store.subscriptions([...new Set(events.flatMap((e) => ownersOf(e.event)))])) {
      byOwner.set(endpoint.ownerId, [...(byOwner.get(endpoint.ownerId) ?? []), endpoint]);
    }
    const out: NewDelivery[] = [];
    for (const { event, seq } of events) {
      const body = deliveryBody(event);
      for (const owner of ownersOf(event)) {
        for (const endpoint of byOwner.get(owner) ?? []) {
          if (!matchesEventPatterns(endpoint.events, event.type)) continue;
          out.push({ id: randomUUID(), endpointId: endpoint.id, eventId: event.id, eventType: event.type, orderKey: event.orderKey, eventSeq: seq, body });
        }
      }
    }
    return out;
  }
}
