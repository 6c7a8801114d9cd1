/**
 * Reads LOOM_OUTBOUND_EVENTS the way any subscriber would (tests of the
 * outbound event sources): every stored event in stream order, decoded with
 * the protocol's codec, with the Nats-Msg-Id it was recorded under.
 */
import { JetStreamApiCodes, JetStreamApiError, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeOutboundEvent, OUTBOUND_EVENTS_STREAM, type OutboundEvent } from '../../protocol/outbound-events.ts';
import { waitFor } from './wait-for.ts';

export interface StoredOutboundEvent {
  readonly seq: number;
  readonly subject: string;
  readonly msgId: string | undefined;
  readonly event: OutboundEvent;
}

/** Every event on the stream now (none when the stream does not exist yet). */
export async function readOutboundEvents(nc: NatsConnection): Promise<StoredOutboundEvent[]> {
  const js = jetstream(nc, { timeout: 10_000 });
  let last: number;
  try {
    const info = await (await js.jetstreamManager()).streams.info(OUTBOUND_EVENTS_STREAM);
    if (info.state.messages === 0) return [];
    last = info.state.last_seq;
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) return [];
    throw err;
  }
  const consumer = await js.consumers.get(OUTBOUND_EVENTS_STREAM);
  const out: StoredOutboundEvent[] = [];
  try {
    for (;;) {
      const batch = await consumer.fetch({ max_messages: 1_000, expires: 2_000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        out.push({ seq: m.seq, subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id'), event: decodeOutboundEvent(m.data) });
        if (m.seq >= last) return out;
      }
      if (got === 0) return out;
    }
  } finally {
    await consumer.delete();
  }
}

/** Polls until `select` picks something out of the stream's events. */
export function waitForOutboundEvents<T>(nc: NatsConnection, select: (events: StoredOutboundEvent[]) => T | null, what: string, timeoutMs = 30_000): Promise<T> {
  return waitFor(async () => select(await readOutboundEvents(nc)), { what, timeoutMs, intervalMs: 200 });
}
