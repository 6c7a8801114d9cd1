/**
 * DocumentLog on JetStream: one subject per document in one stream. Appends
 * carry Nats-Expected-Last-Subject-Sequence, which is the fencing check: a
 * stale owner's append fails once anyone else has written. Sequences are the
 * stream's, so they only grow.
 */
import { DeliverPolicy, jetstream, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import type { Logger } from '../log.ts';
import { RequestMux } from './request-mux.ts';
import { type DocumentLog, FencingError, type LogEntry } from '../../actors/document/ports.ts';
import type { DocId } from '../../protocol/ids.ts';
import { DOC_LOG_STREAM, docLogSubject } from '../../protocol/subjects.ts';

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

export class JetStreamDocumentLog implements DocumentLog {
  private readonly js: JetStreamClient;
  private readonly mux: RequestMux;

  constructor(
    nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly opts: { timeoutMs: number; logger: Logger },
  ) {
    this.js = jetstream(nc, { timeout: opts.timeoutMs });
    this.mux = new RequestMux(nc);
  }

  /**
   * A JetStream publish done by hand on the shared request mux (see
   * request-mux.ts for why): the expected-last-subject-sequence header, then
   * the server's PubAck, `{"stream","seq"}` or `{"error":{"err_code",...}}`.
   */
  async append(id: DocId, update: Uint8Array, expectedLastSeq: number): Promise<number> {
    const h = headers();
    h.set(EXPECTED_LAST_SUBJECT_SEQUENCE, String(expectedLastSeq));
    const outcome = await this.mux.request(docLogSubject(id), update, { timeoutMs: this.opts.timeoutMs, headers: h });
    if (outcome.kind !== 'reply') {
      throw new Error(`appending to the log of document ${id} failed: ${outcome.kind === 'timeout' ? 'no ack in time' : 'no stream captures the subject'}`);
    }
    let ack: PubAck;
    try {
      ack = pubAckSchema.parse(JSON.parse(textDecoder.decode(outcome.msg.data)));
    } catch (err) {
      throw new Error(`appending to the log of document ${id} failed: unreadable ack`, { cause: err });
    }
    if (ack.error !== undefined) {
      const cause = new Error(`${ack.error.description ?? 'jetstream error'} (${ack.error.err_code ?? ack.error.code ?? '?'})`);
      if (ack.error.err_code === WRONG_LAST_SEQUENCE) throw new FencingError(id, expectedLastSeq, { cause });
      throw new Error(`appending to the log of document ${id} failed`, { cause });
    }
    if (ack.seq === undefined || ack.seq === 0 || ack.stream !== DOC_LOG_STREAM) throw new Error(`appending to the log of document ${id} got an ack without a sequence`);
    return ack.seq;
  }

  async lastSeq(id: DocId): Promise<number> {
    const msg = await this.jsm.streams.getMessage(DOC_LOG_STREAM, { last_by_subj: docLogSubject(id) });
    return msg?.seq ?? 0;
  }

  async *readAfter(id: DocId, afterSeq: number): AsyncIterable<LogEntry> {
    const last = await this.lastSeq(id);
    if (last <= afterSeq) return;
    const consumer = await this.js.consumers.get(DOC_LOG_STREAM, {
      filter_subjects: docLogSubject(id),
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: afterSeq + 1,
    });
    let seen = afterSeq;
    try {
      while (seen < last) {
        const batch = await consumer.fetch({ max_messages: READ_BATCH, expires: READ_EXPIRES_MS });
        let got = 0;
        for await (const m of batch) {
          got++;
          seen = m.seq;
          yield { seq: m.seq, update: m.data };
          if (seen >= last) break;
        }
        if (got === 0 && seen < last) {
          throw new Error(`log of document ${id} ended at seq ${seen} before its last seq ${last}`);
        }
      }
    } finally {
      await consumer.delete().catch((err: unknown) => {
        // Ordered consumers are ephemeral and expire on their own; nothing is lost.
        this.opts.logger.debug({ err, docId: id }, 'ordered consumer cleanup failed');
      });
    }
  }

  async truncateBefore(id: DocId, seq: number): Promise<void> {
    // Nothing precedes seq 1, and nats-server reads a purge up to seq 1 as
    // "no bound": it would drop the whole subject, entry 1 included.
    if (seq <= 1) return;
    await this.jsm.streams.purge(DOC_LOG_STREAM, { filter: docLogSubject(id), seq });
  }

  async remove(id: DocId): Promise<void> {
    await this.jsm.streams.purge(DOC_LOG_STREAM, { filter: docLogSubject(id) });
  }
}
