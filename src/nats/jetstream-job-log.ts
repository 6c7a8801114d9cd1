/**
 * JobLog on JetStream: one subject per job (log.job.<token>) in the stream
 * LOOM_JOB_LOG, one event per message. Appends carry
 * Nats-Expected-Last-Subject-Sequence, which fences a stale owner out;
 * sequences are the stream's, so they only grow (but are not contiguous per
 * job). The same reader serves replays in the actor and event resumption at
 * the gateway (SSE, /ws).
 */
import { DeliverPolicy, JetStreamApiError, jetstream, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { JobLogFencingError, type JobLog, type JobLogEntry } from '../../actors/job/index.ts';
import { parseActorId } from '../../protocol/ids.ts';
import { JOB_LOG_STREAM, jobLogSubject } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';

/** JetStream's API error code for a failed expected-last-subject-sequence check. */
const WRONG_LAST_SEQUENCE = 10071;
const READ_BATCH = 256;
const READ_EXPIRES_MS = 2_000;

export class JetStreamJobLog implements JobLog {
  private readonly js: JetStreamClient;

  constructor(
    nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly opts: { timeoutMs: number; logger: Logger },
  ) {
    this.js = jetstream(nc, { timeout: opts.timeoutMs });
  }

  async append(id: string, body: Uint8Array, expectedLastSeq: number): Promise<number> {
    try {
      const ack = await this.js.publish(jobLogSubject(parseActorId(id)), body, {
        expect: { lastSubjectSequence: expectedLastSeq },
        timeout: this.opts.timeoutMs,
      });
      return ack.seq;
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === WRONG_LAST_SEQUENCE) throw new JobLogFencingError(id, expectedLastSeq, { cause: err });
      throw new Error(`appending to the log of job ${id} failed`, { cause: err });
    }
  }

  /** Seq of the job's last event, or 0 when the job has no log (does not exist). */
  async lastSeq(id: string): Promise<number> {
    const msg = await this.jsm.streams.getMessage(JOB_LOG_STREAM, { last_by_subj: jobLogSubject(parseActorId(id)) });
    return msg?.seq ?? 0;
  }

  /** The job's last entry, or null when the job does not exist. */
  async last(id: string): Promise<JobLogEntry | null> {
    const msg = await this.jsm.streams.getMessage(JOB_LOG_STREAM, { last_by_subj: jobLogSubject(parseActorId(id)) });
    return msg === null ? null : { seq: msg.seq, body: msg.data };
  }

  /** The job's first entry (its job-created event), or null when the job does not exist. */
  async first(id: string, signal?: AbortSignal): Promise<JobLogEntry | null> {
    for await (const entry of this.readAfter(id, 0, signal, 1)) return entry;
    return null;
  }

  async *readAfter(id: string, afterSeq: number, signal?: AbortSignal, limit = Infinity): AsyncIterable<JobLogEntry> {
    const last = await this.lastSeq(id);
    if (last <= afterSeq) return;
    const consumer = await this.js.consumers.get(JOB_LOG_STREAM, {
      filter_subjects: jobLogSubject(parseActorId(id)),
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
          yield { seq: m.seq, body: m.data };
          if (seen >= last || count >= limit) break;
        }
        if (got === 0 && seen < last) throw new Error(`log of job ${id} ended at seq ${seen} before its last seq ${last}`);
      }
    } finally {
      await consumer.delete().catch((err: unknown) => {
        // Ordered consumers are ephemeral and expire on their own; nothing is lost.
        this.opts.logger.debug({ err, jobId: id }, 'ordered consumer cleanup failed');
      });
    }
  }
}
