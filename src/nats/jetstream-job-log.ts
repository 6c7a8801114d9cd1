/**
 * JobLog on JetStream: one subject per job (log.job.<token>) in the stream
 * LOOM_JOB_LOG, one event per message. Appends carry
 * Nats-Expected-Last-Subject-Sequence, which fences a stale owner out;
 * sequences are the stream's, so they only grow (but are not contiguous per
 * job). The same reader serves replays in the actor and event resumption at
 * the gateway (SSE, /ws). The JetStream mechanics live in
 * fenced-subject-log.ts, shared with the document log.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { JobLogFencingError, type JobLog, type JobLogEntry } from '../../actors/job/index.ts';
import { parseActorId } from '../../protocol/ids.ts';
import { JOB_LOG_STREAM, jobLogSubject } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import { FencedSubjectLog, type SubjectLogTarget } from './fenced-subject-log.ts';

export class JetStreamJobLog implements JobLog {
  private readonly log: FencedSubjectLog;

  constructor(
    nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    opts: { timeoutMs: number; logger: Logger },
  ) {
    this.log = new FencedSubjectLog(nc, jsm, { stream: JOB_LOG_STREAM, ...opts });
  }

  /**
   * Removes every event of a job (account deletion, retention). An actor still
   * holding the job in memory is fenced out by its next append.
   * @returns how many events were removed.
   */
  async remove(id: string): Promise<number> {
    const { purged } = await this.jsm.streams.purge(JOB_LOG_STREAM, { filter: jobLogSubject(parseActorId(id)) });
    return purged;
  }

  async append(id: string, body: Uint8Array, expectedLastSeq: number): Promise<number> {
    let subject: SubjectLogTarget;
    try {
      subject = target(id);
    } catch (err) {
      throw new Error(`appending to the log of job ${id} failed`, { cause: err });
    }
    return this.log.append(subject, body, expectedLastSeq, (cause) => new JobLogFencingError(id, expectedLastSeq, { cause }));
  }

  /** Seq of the job's last event, or 0 when the job has no log (does not exist). */
  async lastSeq(id: string): Promise<number> {
    return (await this.last(id))?.seq ?? 0;
  }

  /** The job's last entry, or null when the job does not exist. */
  async last(id: string): Promise<JobLogEntry | null> {
    const msg = await this.log.last(jobLogSubject(parseActorId(id)));
    return msg === null ? null : { seq: msg.seq, body: msg.data };
  }

  /**
   * The job's first entry (its job-created event, which names the owner), or
   * null when the job does not exist (one message read, not a consumer).
   */
  async first(id: string, signal?: AbortSignal): Promise<JobLogEntry | null> {
    const msg = await this.log.first(jobLogSubject(parseActorId(id)), signal);
    return msg === null ? null : { seq: msg.seq, body: msg.data };
  }

  async *readAfter(id: string, afterSeq: number, signal?: AbortSignal, limit = Infinity): AsyncIterable<JobLogEntry> {
    for await (const m of this.log.readAfter(target(id), afterSeq, signal, limit)) yield { seq: m.seq, body: m.data };
  }
}

/** @throws {Error} from parseActorId when the id is not a valid actor id. */
function target(id: string): SubjectLogTarget {
  return { subject: jobLogSubject(parseActorId(id)), label: `job ${id}`, bindings: { jobId: id } };
}
