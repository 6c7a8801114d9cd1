/**
 * Keeps every actor reply within one NATS message. nats.js throws when a
 * publish (body plus encoded headers) passes the server's max_payload, and
 * a reply that is never sent leaves its caller waiting for its timeout and
 * retrying, only to time out again (a job whose step outputs total a few
 * MiB made `get` do exactly that). A reply over the limit is replaced by a
 * small, non-retryable `reply-too-large` error instead, on the NATS path and
 * the in-process path alike: the answer must not depend on which host the
 * actor lives on.
 */
import type { WireMessage } from '../../protocol/reply.ts';
import { errorReply } from '../../protocol/reply.ts';
import type { Logger } from '../log.ts';
import { toNatsHeaders } from '../nats/headers.ts';

/**
 * Replies whose body is this far under the limit are sent without measuring
 * their headers (actor replies carry a few short ones: `Loom-Seq`,
 * `Loom-Error`), so the common reply costs one comparison.
 */
const HEADER_ALLOWANCE_BYTES = 64 * 1024;

/** The bytes NATS counts against max_payload for a reply: body plus encoded headers. */
export function replyWireBytes(reply: WireMessage): number {
  const headers = toNatsHeaders(reply.headers);
  // Its text form is what nats.js encodes and counts ("NATS/1.0\r\nKey: value\r\n...\r\n\r\n").
  return reply.body.length + (headers === undefined ? 0 : Buffer.byteLength(headers.toString()));
}

/** Which command a reply answers, for the error's message and the log line. */
export interface ReplyTarget {
  readonly kind: string;
  readonly id: string;
  readonly command: string;
}

/**
 * `reply` when it fits in `maxPayloadBytes`, else a `reply-too-large` error
 * reply naming its size and the limit (logged at warn with both).
 */
export function fitReply(reply: WireMessage, maxPayloadBytes: number, target: ReplyTarget, log: Logger): WireMessage {
  if (reply.body.length + HEADER_ALLOWANCE_BYTES <= maxPayloadBytes) return reply;
  const bytes = replyWireBytes(reply);
  if (bytes <= maxPayloadBytes) return reply;
  log.warn({ command: target.command, bytes, limit: maxPayloadBytes }, 'reply over the nats max_payload; answered reply-too-large');
  return errorReply(
    'reply-too-large',
    `the reply to ${target.kind}/${target.id} ${target.command} is ${bytes} bytes, over the ${maxPayloadBytes}-byte limit of one NATS message (max_payload)`,
  );
}
