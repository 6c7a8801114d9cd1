/**
 * Records outbound events on LOOM_OUTBOUND_EVENTS (protocol/outbound-events.ts)
 * with the event id as Nats-Msg-Id, so the stream drops a re-recorded fact
 * within its duplicate window.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { CURRENT_VERSION, HEADERS } from '../../protocol/headers.ts';
import { encodeOutboundEvent, outboundEventSchema, outboundEventSubject, type OutboundEvent } from '../../protocol/outbound-events.ts';

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
    private readonly js: JetStreamClient,
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
    const ack = await this.js.publish(subject, body, { msgID: event.id, headers: h, timeout: this.timeoutMs });
    return { duplicate: ack.duplicate };
  }
}
