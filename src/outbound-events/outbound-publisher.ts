/**
 * Records outbound events on LOOM_OUTBOUND_EVENTS (protocol/outbound-events.ts)
 * with the event id as Nats-Msg-Id, so the stream drops a re-recorded fact
 * within its duplicate window. The publish goes over a request mux
 * (src/nats/jetstream-publish.ts), not js.publish: the job log relay records
 * one event per job step, and nats.js builds an Error with a stack for every
 * request it completes.
 */
import { headers } from '@nats-io/transport-node';
import { CURRENT_VERSION, HEADERS } from '../../protocol/headers.ts';
import { encodeOutboundEvent, outboundEventSchema, outboundEventSubject, type OutboundEvent } from '../../protocol/outbound-events.ts';
import { publishToStream } from '../nats/jetstream-publish.ts';
import type { RequestMux } from '../nats/request-mux.ts';

/** An event that breaks the contract (shape, type, size): recording it again would fail again, so relays log and pass it over. */
export class OutboundEventRefusedError extends Error {
  override readonly name = 'OutboundEventRefusedError';
  readonly code = 'outbound-event-refused';

  constructor(eventId: string, options: { cause: unknown }) {
    super(`outbound event ${eventId} breaks the contract and is not recorded`, options);
  }
}

export interface OutboundPublisher {
  /**
   * Resolves once the stream stored the event (or knew it already).
   * @returns whether the stream reported it as a duplicate.
   * @throws OutboundEventRefusedError when the event breaks the contract; another Error when the stream does not ack in time.
   */
  publish(event: OutboundEvent): Promise<{ duplicate: boolean }>;
}

export class JetStreamOutboundPublisher implements OutboundPublisher {
  constructor(
    private readonly mux: RequestMux,
    private readonly timeoutMs: number,
  ) {}

  async publish(event: OutboundEvent): Promise<{ duplicate: boolean }> {
    let subject: string;
    let body: Uint8Array;
    try {
      subject = outboundEventSubject(event.type);
      body = encodeOutboundEvent(outboundEventSchema.parse(event));
    } catch (cause) {
      throw new OutboundEventRefusedError(event.id, { cause });
    }
    const h = headers();
    h.set(HEADERS.version, String(CURRENT_VERSION));
    const ack = await publishToStream(this.mux, subject, body, { msgId: event.id, headers: h, timeoutMs: this.timeoutMs });
    return { duplicate: ack.duplicate };
  }
}
