/**
 * A JetStream publish over the shared request mux, for hot-path publishes
 * that need only the stream's ack (a work-queue task with its dedup id).
 * nats.js's js.publish() goes through its request(), which builds an Error
 * with a captured stack for every request it completes (request-mux.ts);
 * in the job benchmark's actors process that was one per service task.
 */
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import type { RequestMux } from './request-mux.ts';

/** What the stream answered: where the message is, and whether it was a duplicate of its id (stored before, not again). */
export interface StreamAck {
  readonly stream: string;
  readonly seq: number;
  readonly duplicate: boolean;
}

/** Header that makes the stream drop a repeat of the same id within its duplicate window. */
const MSG_ID = 'Nats-Msg-Id';
const textDecoder = new TextDecoder();

/**
 * Publishes `body` to the stream capturing `subject` and waits for its ack.
 * @throws Error when no stream captures the subject, no ack comes within `timeoutMs`, or the stream refuses the message.
 */
export async function publishToStream(mux: RequestMux, subject: string, body: Uint8Array, opts: { readonly timeoutMs: number; readonly msgId?: string; readonly headers?: MsgHdrs }): Promise<StreamAck> {
  let h = opts.headers;
  if (opts.msgId !== undefined) {
    h ??= natsHeaders();
    h.set(MSG_ID, opts.msgId);
  }
  const outcome = await mux.request(subject, body, { timeoutMs: opts.timeoutMs, ...(h === undefined ? {} : { headers: h }) });
  if (outcome.kind === 'no-responders') throw new Error(`no stream captures ${subject}`);
  if (outcome.kind === 'timeout') throw new Error(`no ack for ${subject} within ${opts.timeoutMs} ms`);
  let ack: unknown;
  try {
    ack = JSON.parse(textDecoder.decode(outcome.msg.data));
  } catch (err) {
    throw new Error(`unreadable ack for ${subject}`, { cause: err });
  }
  const { stream, seq, duplicate, error } = (typeof ack === 'object' && ack !== null ? ack : {}) as { stream?: unknown; seq?: unknown; duplicate?: unknown; error?: { description?: unknown; err_code?: unknown } };
  if (error !== undefined) throw new Error(`stream refused ${subject}: ${String(error.description ?? 'jetstream error')} (${String(error.err_code ?? '?')})`);
  if (typeof stream !== 'string' || typeof seq !== 'number' || !Number.isInteger(seq) || seq <= 0) throw new Error(`ack for ${subject} without a stream sequence`);
  return { stream, seq, duplicate: duplicate === true };
}
