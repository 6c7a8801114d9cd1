/**
 * A no-wait pull from a durable JetStream pull consumer, and the message it
 * returns.
 *
 * Why not nats.js `fetch`/`next`: they require `expires >= 1 s` and cannot
 * send `no_wait`, so asking an empty consumer blocks for a second. Strict
 * priority between two consumers (interactive before batch) needs "give me
 * up to N messages that are ready now, else tell me at once": the JetStream
 * pull request `{ batch, no_wait: true }`, answered with messages and then a
 * 404/408 status. Acknowledgements are the documented ack-subject protocol
 * (`+ACK`, `-NAK {"delay"}`, `+TERM`, `+WPI`), which nats-server 2.9 speaks.
 */
import { createInbox, type Msg, type NatsConnection } from '@nats-io/transport-node';
import type { HeaderMap } from '../../protocol/headers.ts';
import { fromNatsHeaders } from '../nats/headers.ts';
import { sharedRequestMux } from '../nats/request-mux.ts';

/** A work-queue message with its delivery metadata and acknowledgement verbs. */
export interface WorkMessage {
  readonly subject: string;
  readonly headers: HeaderMap;
  readonly data: Uint8Array;
  /** 1 on first delivery; counts naks and AckWait expiries. */
  readonly deliveryCount: number;
  readonly streamSequence: number;
  /** Done: the message leaves the work queue. Resolves once the server confirmed (bounded). */
  ack(timeoutMs: number): Promise<void>;
  /** Redeliver after `delayMs`. */
  nak(delayMs: number): void;
  /** Never redeliver; the work queue drops it. No reason: 2.9 redelivers a `term(reason)`. */
  term(): void;
  /** Reset the AckWait timer (in-progress). */
  working(): void;
}

/** Thrown when an ack reply subject is not one JetStream produces. */
export class AckSubjectError extends Error {
  override readonly name = 'AckSubjectError';
  readonly code = 'invalid-ack-subject';
}

const encoder = new TextEncoder();

/**
 * Pulls up to `batch` messages that are ready now; resolves with fewer (or
 * none) at once when the consumer has no more, never waiting for new ones.
 *
 * Messages that arrive after `timeoutMs` (server slow) are not returned;
 * JetStream redelivers them after AckWait.
 */
export async function pullNoWait(
  nc: NatsConnection,
  target: { readonly apiPrefix: string; readonly stream: string; readonly consumer: string },
  batch: number,
  timeoutMs: number,
): Promise<WorkMessage[]> {
  const inbox = createInbox();
  const sub = nc.subscribe(inbox, { max: batch + 1 });
  const timer = setTimeout(() => sub.unsubscribe(), timeoutMs);
  const out: WorkMessage[] = [];
  try {
    nc.publish(`${target.apiPrefix}.CONSUMER.MSG.NEXT.${target.stream}.${target.consumer}`, encoder.encode(JSON.stringify({ batch, no_wait: true })), { reply: inbox });
    for await (const msg of sub) {
      // 404 No Messages / 408 Request Timeout / 409 ...: the pull is over.
      if (msg.headers?.hasError === true || (msg.data.length === 0 && msg.headers !== undefined && msg.headers.code > 0)) break;
      out.push(toWorkMessage(nc, msg));
      if (out.length >= batch) break;
    }
  } finally {
    clearTimeout(timer);
    sub.unsubscribe();
  }
  return out;
}

interface AckInfo {
  readonly deliveryCount: number;
  readonly streamSequence: number;
}

/**
 * Parses `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`
 * and the 2.10+ form with domain and account hash in front (12 tokens).
 */
export function parseAckSubject(reply: string): AckInfo {
  const t = reply.split('.');
  if (t[0] !== '$JS' || t[1] !== 'ACK') throw new AckSubjectError(`not an ack subject: ${reply.slice(0, 120)}`);
  const base = t.length === 9 ? 4 : t.length >= 11 ? 6 : -1;
  const deliveryCount = Number(t[base]);
  const streamSequence = Number(t[base + 1]);
  if (base < 0 || !Number.isSafeInteger(deliveryCount) || deliveryCount < 1 || !Number.isSafeInteger(streamSequence)) {
    throw new AckSubjectError(`unexpected ack subject layout: ${reply.slice(0, 120)}`);
  }
  return { deliveryCount, streamSequence };
}

function toWorkMessage(nc: NatsConnection, msg: Msg): WorkMessage {
  const reply = msg.reply;
  if (reply === undefined) throw new AckSubjectError(`work message on ${msg.subject} has no ack subject`);
  const info = parseAckSubject(reply);
  const send = (verb: string) => nc.publish(reply, encoder.encode(verb));
  return {
    subject: msg.subject,
    headers: fromNatsHeaders(msg.headers),
    data: msg.data,
    deliveryCount: info.deliveryCount,
    streamSequence: info.streamSequence,
    async ack(timeoutMs: number) {
      // A confirmed ack (the server answers on our inbox): an unconfirmed one
      // could be lost in a reconnect and the request served twice. Over the
      // connection's mux: nc.request builds an Error per completed request.
      const outcome = await sharedRequestMux(nc).request(reply, encoder.encode('+ACK'), { timeoutMs });
      if (outcome.kind === 'timeout') throw new Error(`ack of stream sequence ${info.streamSequence} not confirmed within ${timeoutMs} ms`);
      if (outcome.kind === 'no-responders') throw new Error(`ack of stream sequence ${info.streamSequence}: no consumer answers ${reply}`);
    },
    nak(delayMs: number) {
      send(delayMs > 0 ? `-NAK ${JSON.stringify({ delay: Math.round(delayMs) * 1_000_000 })}` : '-NAK');
    },
    term() {
      send('+TERM');
    },
    working() {
      send('+WPI');
    },
  };
}
