/**
 * A stream's message by query (STREAM.MSG.GET) over a request mux, for the
 * reads of a job's or a session's first log entry (FencedSubjectLog.first:
 * the owner checks of gateways and the outbound relay, once per actor each).
 * nats.js's jsm.streams.getMessage() goes through its request(), which builds
 * an Error with a captured stack for every request it completes
 * (request-mux.ts).
 */
import type { RequestMux } from './request-mux.ts';

/** What STREAM.MSG.GET answers for (the server, 2.9+, takes `next_by_subj` from `seq` too). */
export type StreamMessageQuery = { readonly seq: number; readonly next_by_subj?: string } | { readonly last_by_subj: string };

export interface StreamMessage {
  readonly subject: string;
  readonly seq: number;
  readonly data: Uint8Array;
}

/** JetStream's err_code for "no message found". */
const NO_MESSAGE_FOUND = 10037;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The message the query names, or null when there is none.
 * @throws Error when no stream answers in `timeoutMs`, the stream does not exist, or the answer is unreadable.
 */
export async function getStreamMessage(mux: RequestMux, target: { readonly apiPrefix: string; readonly stream: string }, query: StreamMessageQuery, timeoutMs: number): Promise<StreamMessage | null> {
  const subject = `${target.apiPrefix}.STREAM.MSG.GET.${target.stream}`;
  const outcome = await mux.request(subject, encoder.encode(JSON.stringify(query)), { timeoutMs });
  if (outcome.kind === 'no-responders') throw new Error(`JetStream does not answer ${subject}`);
  if (outcome.kind === 'timeout') throw new Error(`no answer to ${subject} within ${timeoutMs} ms`);
  let reply: unknown;
  try {
    reply = JSON.parse(decoder.decode(outcome.msg.data));
  } catch (err) {
    throw new Error(`unreadable answer to ${subject}`, { cause: err });
  }
  const { message, error } = (typeof reply === 'object' && reply !== null ? reply : {}) as { message?: { subject?: unknown; seq?: unknown; data?: unknown }; error?: { description?: unknown; err_code?: unknown } };
  if (error !== undefined) {
    if (error.err_code === NO_MESSAGE_FOUND) return null;
    throw new Error(`${subject} refused: ${String(error.description ?? 'jetstream error')} (${String(error.err_code ?? '?')})`);
  }
  if (typeof message?.subject !== 'string' || typeof message.seq !== 'number' || (message.data !== undefined && typeof message.data !== 'string')) {
    throw new Error(`answer to ${subject} without a message`);
  }
  const data = message.data === undefined ? new Uint8Array(0) : new Uint8Array(Buffer.from(message.data, 'base64'));
  return { subject: message.subject, seq: message.seq, data };
}
