/**
 * fenced-subject-log.ts: the JetStream mechanics shared by the document and
 * job logs, one subject per actor in one stream. Appends carry
 * Nats-Expected-Last-Subject-Sequence, which is the fencing check: a stale
 * owner's append fails once anyone else has written. Sequences are the
 * stream's, so they only grow. Each adapter keeps its own port, subject
 * builder and fencing error; this module knows only subjects and sequences.
 *
 * Appends ride through a stream leader change (a NATS node lost: 2.9.10
 * elects in about 7 s): each attempt has a short timeout, failures that
 * leave the outcome open (no ack, no leader, "temporarily unavailable") are
 * retried for up to RIDE_THROUGH_MS, and a retry refused by the fencing
 * check is told apart from a real fence by reading the subject's last entry:
 * if that is our own body just past the expected sequence, the earlier
 * attempt was stored and only its ack was lost.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DeliverPolicy, jetstream, type JetStreamClient, type JetStreamManager, type MsgRequest } from '@nats-io/jetstream';
import { headers, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import type { HeaderMap } from '../../protocol/headers.ts';
import type { Logger } from '../log.ts';
import { apiPrefixOf } from './api-prefix.ts';
import { fromNatsHeaders } from './headers.ts';
import { RequestMux, type RequestOutcome } from './request-mux.ts';
import { getStreamMessage } from './stream-message-get.ts';

/** JetStream's API error code for a failed expected-last-subject-sequence check. */
const WRONG_LAST_SEQUENCE = 10071;
const EXPECTED_LAST_SUBJECT_SEQUENCE = 'Nats-Expected-Last-Subject-Sequence';
const textDecoder = new TextDecoder();

interface PubAck {
  readonly stream?: string;
  readonly seq?: number;
  readonly error?: { readonly code?: number; readonly err_code?: number; readonly description?: string };
}

/**
 * JetStream's publish ack, checked by hand: every log append (about two per
 * job step) reads one, and a zod parse of it was ~1% of the actors host.
 * @throws {Error} when the ack is not JSON of that shape.
 */
function readPubAck(data: Uint8Array): PubAck {
  const ack: unknown = JSON.parse(textDecoder.decode(data));
  if (typeof ack !== 'object' || ack === null) throw new Error('ack is not an object');
  const { stream, seq, error } = ack as Record<string, unknown>;
  if (!optional(stream, 'string') || !(seq === undefined || (typeof seq === 'number' && Number.isInteger(seq) && seq >= 0))) throw new Error('ack stream or seq of the wrong type');
  if (error === undefined) return ack as PubAck;
  if (typeof error !== 'object' || error === null) throw new Error('ack error is not an object');
  const { code, err_code: errCode, description } = error as Record<string, unknown>;
  if (!optional(code, 'number') || !optional(errCode, 'number') || !optional(description, 'string')) throw new Error('ack error fields of the wrong type');
  return ack as PubAck;
}

function optional(value: unknown, type: 'string' | 'number'): boolean {
  return value === undefined || typeof value === type;
}

const READ_BATCH = 256;
const READ_EXPIRES_MS = 2_000;
/** How long an append keeps retrying while the stream has no reachable leader: a few elections' worth. */
export const RIDE_THROUGH_MS = 20_000;
/** One append attempt's wait for its ack; a request lost with a dead node costs this much. */
const ATTEMPT_TIMEOUT_MS = 2_000;
/** Pause before retrying an attempt that failed fast (no responders: the stream is electing its leader). */
const RETRY_PAUSE_MS = [50, 100, 200, 400] as const;
const RETRY_PAUSE_MAX_MS = 400;
/** The JetStream API's status for "try again" (cluster not available, no leader yet). */
const UNAVAILABLE = 503;

/** An attempt's outcome: stored, refused by the fencing check, or unknown (retry). */
type Attempt = { readonly kind: 'stored'; readonly seq: number } | { readonly kind: 'fenced'; readonly cause: Error } | { readonly kind: 'retry'; readonly problem: string; readonly mayBeStored: boolean };

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
  private readonly apiPrefix: string;

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly opts: { stream: string; timeoutMs: number; logger: Logger },
  ) {
    // Consumer requests (reads) get the attempt timeout: one stuck on a dead peer falls back sooner (readAfter).
    this.js = jetstream(nc, { timeout: Math.min(opts.timeoutMs, ATTEMPT_TIMEOUT_MS) });
    this.mux = new RequestMux(nc);
    this.apiPrefix = apiPrefixOf(jsm.getOptions());
  }

  /**
   * A JetStream publish done by hand on the shared request mux (see
   * request-mux.ts for why): the expected-last-subject-sequence header, then
   * the server's PubAck, `{"stream","seq"}` or `{"error":{"err_code",...}}`.
   * Retried through a leader change as the header comment describes.
   *
   * `extra` headers are stored with the message and come back from readAfter.
   * `expectedLastSeq` undefined appends without the check, for entries whose
   * repetition is harmless (a document's change marks).
   *
   * @returns the stream sequence of the appended message
   * @throws the error from `fenced(cause)` when another owner wrote past expectedLastSeq (err_code 10071); a plain Error otherwise (after RIDE_THROUGH_MS for an unreachable stream)
   */
  async append(target: SubjectLogTarget, body: Uint8Array, expectedLastSeq: number | undefined, fenced: (cause: Error) => Error, extra?: HeaderMap): Promise<number> {
    const h = headers();
    if (expectedLastSeq !== undefined) h.set(EXPECTED_LAST_SUBJECT_SEQUENCE, String(expectedLastSeq));
    for (const [key, value] of Object.entries(extra ?? {})) h.set(key, value);
    const startedAt = Date.now();
    const deadline = startedAt + Math.max(this.opts.timeoutMs, RIDE_THROUGH_MS);
    let mayBeStored = false;
    for (let attempt = 0; ; attempt++) {
      const timeoutMs = Math.max(1, Math.min(this.opts.timeoutMs, ATTEMPT_TIMEOUT_MS, deadline - Date.now()));
      const outcome = await this.attempt(target, body, h, timeoutMs);
      if (outcome.kind === 'stored') {
        if (attempt > 0) this.opts.logger.info({ ...target.bindings, attempts: attempt + 1, ms: Date.now() - startedAt }, 'append went through after retries');
        return outcome.seq;
      }
      if (outcome.kind === 'fenced') {
        // A retry after an unanswered attempt is refused by that attempt itself when it was stored.
        let own: number | null = null;
        if (mayBeStored && expectedLastSeq !== undefined) {
          try {
            own = await this.ownEntryAfter(target.subject, body, expectedLastSeq);
          } catch (err) {
            // Unknown yet; the next attempt asks again (it is refused the same way if the entry is there).
            this.opts.logger.warn({ ...target.bindings, err }, 'reading the log back after a refused retry failed');
            if (Date.now() >= deadline) throw new Error(`appending to the log of ${target.label} failed: outcome unknown`, { cause: err });
            await sleep(RETRY_PAUSE_MAX_MS);
            continue;
          }
        }
        if (own !== null) {
          this.opts.logger.info({ ...target.bindings, seq: own, attempts: attempt + 1, ms: Date.now() - startedAt }, 'append was stored by an earlier attempt whose ack was lost');
          return own;
        }
        throw fenced(outcome.cause);
      }
      mayBeStored ||= outcome.mayBeStored;
      if (Date.now() >= deadline) throw new Error(`appending to the log of ${target.label} failed: ${outcome.problem} (for ${Date.now() - startedAt} ms, ${attempt + 1} attempts)`);
      if (attempt === 0) this.opts.logger.warn({ ...target.bindings, problem: outcome.problem }, 'append failed; retrying while the stream recovers');
      if (!outcome.mayBeStored) await sleep(Math.min(RETRY_PAUSE_MS[attempt] ?? RETRY_PAUSE_MAX_MS, Math.max(0, deadline - Date.now())));
    }
  }

  private async attempt(target: SubjectLogTarget, body: Uint8Array, h: MsgHdrs, timeoutMs: number): Promise<Attempt> {
    let outcome: RequestOutcome;
    try {
      outcome = await this.mux.request(target.subject, body, { timeoutMs, headers: h });
    } catch (err) {
      // The client refused to send: nothing was stored, and a closed connection will not come back.
      if (this.nc.isClosed()) throw new Error(`appending to the log of ${target.label} failed: connection closed`, { cause: err });
      return { kind: 'retry', problem: `not sent: ${err instanceof Error ? err.message : String(err)}`, mayBeStored: false };
    }
    if (outcome.kind === 'timeout') return { kind: 'retry', problem: 'no ack in time', mayBeStored: true };
    if (outcome.kind === 'no-responders') return { kind: 'retry', problem: 'no stream leader captures the subject', mayBeStored: false };
    let ack: PubAck;
    try {
      ack = readPubAck(outcome.msg.data);
    } catch (err) {
      throw new Error(`appending to the log of ${target.label} failed: unreadable ack`, { cause: err });
    }
    if (ack.error !== undefined) {
      const cause = new Error(`${ack.error.description ?? 'jetstream error'} (${ack.error.err_code ?? ack.error.code ?? '?'})`);
      if (ack.error.err_code === WRONG_LAST_SEQUENCE) return { kind: 'fenced', cause };
      if (ack.error.code === UNAVAILABLE) return { kind: 'retry', problem: cause.message, mayBeStored: false };
      throw new Error(`appending to the log of ${target.label} failed`, { cause });
    }
    if (ack.seq === undefined || ack.seq === 0 || ack.stream !== this.opts.stream) throw new Error(`appending to the log of ${target.label} got an ack without a sequence`);
    return { kind: 'stored', seq: ack.seq };
  }

  /**
   * The sequence of `body` when it is the subject's last entry, stored just
   * past `expectedLastSeq` (an earlier attempt of ours); null otherwise.
   * Nothing else can sit between: any entry there would have refused ours.
   */
  private async ownEntryAfter(subject: string, body: Uint8Array, expectedLastSeq: number): Promise<number | null> {
    const last = await this.last(subject);
    if (last === null || last.seq <= expectedLastSeq) return null;
    return Buffer.compare(Buffer.from(last.data.buffer, last.data.byteOffset, last.data.byteLength), Buffer.from(body.buffer, body.byteOffset, body.byteLength)) === 0 ? last.seq : null;
  }

  /**
   * The subject's first message (seq and body), or null when it has none. One
   * STREAM.MSG.GET by `next_by_subj` on the mux (stream-message-get.ts), not a
   * consumer: the owner checks of jobs and sessions ask it.
   */
  async first(subject: string, signal?: AbortSignal): Promise<Omit<SubjectEntry, 'headers'> | null> {
    signal?.throwIfAborted();
    const msg = await getStreamMessage(this.mux, { apiPrefix: this.apiPrefix, stream: this.opts.stream }, { seq: 0, next_by_subj: subject }, this.opts.timeoutMs);
    return msg === null ? null : { seq: msg.seq, data: msg.data };
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
    const progress = { seen: afterSeq, count: 0 };
    try {
      for await (const entry of this.readThroughConsumer(target, afterSeq, last, signal, limit)) {
        progress.seen = entry.seq;
        progress.count++;
        yield entry;
      }
      return;
    } catch (err) {
      if (signal?.aborted === true) throw err;
      // The ordered consumer is R1 on one peer of the stream, picked by the
      // server; after a node loss it can land on the dead node (2.9 does not
      // know it is gone for a while) and never answer. The stream leader
      // answers message gets: read the rest one entry at a time.
      this.opts.logger.warn({ err, ...target.bindings, seen: progress.seen, last }, 'reading the log through a consumer failed; reading it entry by entry');
    }
    while (progress.seen < last && progress.count < limit) {
      signal?.throwIfAborted();
      // nats.js types only `seq` and `last_by_subj` queries; the server (2.9+) also takes `next_by_subj` from a sequence.
      const query = { seq: progress.seen + 1, next_by_subj: target.subject } as unknown as MsgRequest;
      const msg = await this.jsm.streams.getMessage(this.opts.stream, query);
      if (msg === null || msg.seq > last) throw new Error(`log of ${target.label} ended at seq ${progress.seen} before its last seq ${last}`);
      progress.seen = msg.seq;
      progress.count++;
      yield { seq: msg.seq, data: msg.data, headers: fromNatsHeaders(msg.header) };
    }
  }

  private async *readThroughConsumer(target: SubjectLogTarget, afterSeq: number, last: number, signal: AbortSignal | undefined, limit: number): AsyncIterable<SubjectEntry> {
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
