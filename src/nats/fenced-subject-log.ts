/**
 * fenced-subject-log.ts: the JetStream mechanics shared by the document and
 * job logs, one subject per actor in one stream. Appends carry
 * Nats-Expected-Last-Subject-Sequence, which is the fencing check: a stale
 * owner's append fails once anyone else has written. Sequences are the
 * stream's, so they only grow. Each adapter keeps its own port, subject
 * builder and fencing error; this module knows only subjects and sequences.
 */
import { DeliverPolicy, jetstream, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import type { HeaderMap } from '../../protocol/headers.ts';
import type { Logger } from '../log.ts';
import { fromNatsHeaders } from './headers.ts';
import { RequestMux } from './request-mux.ts';

/** JetStream's API error code for a failed expected-last-subject-sequence check. */
const WRONG_LAST_SEQUENCE = 10071;
const EXPECTED_LAST_SUBJECT_SEQUENCE = 'Nats-Expected-Last-Subject-Sequence';
const textDecoder = new TextDecoder();

const pubAckSchema = z.object({
  stream: z.string().optional(),
  seq: z.number().int().nonnegative().optional(),
  error: z.object({ code: z.number().optional(), err_code: z.number().optional(), description: z.string().optional() }).optional(),
});
type PubAck = z.infer<typeof pubAckSchema>;
const READ_BATCH = 256;
const READ_EXPIRES_MS = 2_000;

/** One stored message of a subject. */
export interface SubjectEntry {
  readonly seq: number;
  readonly data: Uint8Array;
  /** Headers the entry was appended with (canonical keys; empty when none). */
  readonly headers: HeaderMap;
}

/** How a caller names what it appends to or reads, for errors and logs. */
export interface SubjectLogTarget {
  readonly subject: string;
  /** e.g. `document abc`; used as "the log of <label>". */
  readonly label: string;
  /** Log bindings for the consumer-cleanup debug line, e.g. `{ docId }`. */
  readonly bindings: Record<string, string>;
}

export class FencedSubjectLog {
  private readonly js: JetStreamClient;
  private readonly mux: RequestMux;

  constructor(
    nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly opts: { stream: string; timeoutMs: number; logger: Logger },
  ) {
    this.js = jetstream(nc, { timeout: opts.timeoutMs });
    this.mux = new RequestMux(nc);
  }

  /**
   * A JetStream publish done by hand on the shared request mux (see
   * request-mux.ts for why): the expected-last-subject-sequence header, then
   * the server's PubAck, `{"stream","seq"}` or `{"error":{"err_code",...}}`.
   *
   * `extra` headers are stored with the message and come back from readAfter.
   *
   * @returns the stream sequence of the appended message
   * @throws the error from `fenced(cause)` when another owner wrote past expectedLastSeq (err_code 10071); a plain Error otherwise
   */
  async append(target: SubjectLogTarget, body: Uint8Array, expectedLastSeq: number, fenced: (cause: Error) => Error, extra?: HeaderMap): Promise<number> {
    const h = headers();
    h.set(EXPECTED_LAST_SUBJECT_SEQUENCE, String(expectedLastSeq));
    for (const [key, value] of Object.entries(extra ?? {})) h.set(key, value);
    const outcome = await this.mux.request(target.subject, body, { timeoutMs: this.opts.timeoutMs, headers: h });
    if (outcome.kind !== 'reply') {
      throw new Error(`appending to the log of ${target.label} failed: ${outcome.kind === 'timeout' ? 'no ack in time' : 'no stream captures the subject'}`);
    }
    let ack: PubAck;
    try {
      ack = pubAckSchema.parse(JSON.parse(textDecoder.decode(outcome.msg.data)));
    } catch (err) {
      throw new Error(`appending to the log of ${target.label} failed: unreadable ack`, { cause: err });
    }
    if (ack.error !== undefined) {
      const cause = new Error(`${ack.error.description ?? 'jetstream error'} (${ack.error.err_code ?? ack.error.code ?? '?'})`);
      if (ack.error.err_code === WRONG_LAST_SEQUENCE) throw fenced(cause);
      throw new Error(`appending to the log of ${target.label} failed`, { cause });
    }
    if (ack.seq === undefined || ack.seq === 0 || ack.stream !== this.opts.stream) throw new Error(`appending to the log of ${target.label} got an ack without a sequence`);
    return ack.seq;
  }

  /** The subject's last message, or null when it has none. */
  async last(subject: string): Promise<SubjectEntry | null> {
    const msg = await this.jsm.streams.getMessage(this.opts.stream, { last_by_subj: subject });
    return msg === null ? null : { seq: msg.seq, data: msg.data, headers: fromNatsHeaders(msg.header) };
  }

  /**
   * The subject's messages after `afterSeq`, up to its last message at the
   * time of the call (and at most `limit`), in order, through a consumer that
   * is deleted afterwards.
   *
   * @throws {Error} if the stream ends before that last message
   */
  async *readAfter(target: SubjectLogTarget, afterSeq: number, signal?: AbortSignal, limit = Infinity): AsyncIterable<SubjectEntry> {
    const last = (await this.last(target.subject))?.seq ?? 0;
    if (last <= afterSeq) return;
    const consumer = await this.js.consumers.get(this.opts.stream, {
      filter_subjects: target.subject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: afterSeq + 1,
    });
    let seen = afterSeq;
    let count = 0;
    try {
      while (seen < last && count < limit) {
        signal?.throwIfAborted();
        const batch = await consumer.fetch({ max_messages: Math.min(READ_BATCH, limit - count), expires: READ_EXPIRES_MS });
        let got = 0;
        for await (const m of batch) {
          got++;
          count++;
          seen = m.seq;
          yield { seq: m.seq, data: m.data, headers: fromNatsHeaders(m.headers) };
          if (seen >= last || count >= limit) break;
        }
        if (got === 0 && seen < last) throw new Error(`log of ${target.label} ended at seq ${seen} before its last seq ${last}`);
      }
    } finally {
      await consumer.delete().catch((err: unknown) => {
        // Ordered consumers are ephemeral and expire on their own; nothing is lost.
        this.opts.logger.debug({ err, ...target.bindings }, 'ordered consumer cleanup failed');
      });
    }
  }
}
