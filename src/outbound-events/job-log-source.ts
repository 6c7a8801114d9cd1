/**
 * Outbound events from the job log (LOOM_JOB_LOG, protocol/job-events.ts):
 *
 *   job-created                         -> job.created
 *   step-started (activity approval)    -> job.waiting-approval
 *   step-succeeded                      -> job.step.succeeded, and for an
 *                                          `emit` step also the event it emits
 *   job-succeeded                       -> job.succeeded
 *   job-failed, job-rejected            -> job.failed (error.code `rejected`)
 *   job-cancelled                       -> job.cancelled
 *   job-stuck                           -> job.stuck
 *
 * Told to the job's owner; orderKey `job:<id>`; id from (job, log seq, type).
 * Owner, kind and step activities come from earlier entries of the same
 * job, cached; after a restart (or once evicted) they are read back from
 * the job's own log.
 */
import { decodeJobEvent, type JobEvent } from '../../protocol/job-events.ts';
import { eventLinks, LOOM_EVENT_TYPES, orderKeys } from '../../protocol/outbound-event-types.ts';
import { OUTBOUND_EVENT_TYPE, type OutboundEvent } from '../../protocol/outbound-events.ts';
import { JOB_LOG_STREAM, parseJobLogSubject } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import type { JetStreamJobLog } from '../nats/jetstream-job-log.ts';
import { BoundedMap } from '../limits/bounded-map.ts';
import { logEventId } from './event-id.ts';
import type { LogEntry, LogEventSource } from './log-relay.ts';

const CACHE_ENTRIES = 10_000;

interface JobFacts {
  readonly owner: string;
  readonly kind: string;
}

export class JobLogSource implements LogEventSource {
  readonly name = 'job-log';
  readonly stream = JOB_LOG_STREAM;
  private readonly jobs = new BoundedMap<string, JobFacts>(CACHE_ENTRIES);
  /** `<jobId> <step>` -> the activity of the step's latest start. */
  private readonly activities = new BoundedMap<string, string>(CACHE_ENTRIES);

  constructor(
    private readonly jobLog: Pick<JetStreamJobLog, 'readAfter'>,
    private readonly log: Logger,
  ) {}

  reset(): void {
    this.jobs.clear();
    this.activities.clear();
  }

  async onEntry(entry: LogEntry): Promise<OutboundEvent[]> {
    let jobId: string;
    let event: JobEvent;
    try {
      jobId = parseJobLogSubject(entry.subject);
      event = decodeJobEvent(entry.data);
    } catch (err) {
      // The job actor is the log's only writer; an entry it could not have written is logged and passed over.
      this.log.error({ err, subject: entry.subject, seq: entry.seq }, 'job log entry unreadable; no outbound event for it');
      return [];
    }
    if (event.type === 'job-created') this.jobs.set(jobId, { owner: event.owner, kind: event.kind });
    if (event.type === 'step-started') this.activities.set(`${jobId} ${event.step}`, event.activity);
    const types = await this.typesOf(jobId, event);
    if (types.length === 0) return [];
    const facts = await this.factsOf(jobId);
    if (facts === null) {
      this.log.warn({ jobId, seq: entry.seq }, 'job log has no job-created entry (removed?); no outbound event');
      return [];
    }
    const base = { jobId, kind: facts.kind, link: eventLinks.job(jobId) };
    return types.map(({ type, data }) => ({
      id: logEventId('job', jobId, entry.seq, type),
      type,
      timestamp: new Date(event.at).toISOString(),
      ownerIds: [facts.owner],
      orderKey: orderKeys.job(jobId),
      data: { ...base, ...data },
    }));
  }

  /** The outbound types (and extra data) an entry means. */
  private async typesOf(jobId: string, event: JobEvent): Promise<Array<{ type: string; data: Record<string, unknown> }>> {
    switch (event.type) {
      case 'job-created':
        return [{ type: LOOM_EVENT_TYPES.jobCreated, data: {} }];
      case 'step-started':
        return event.activity === 'approval' ? [{ type: LOOM_EVENT_TYPES.jobWaitingApproval, data: { step: event.step, approve: `${eventLinks.job(jobId)}/approve` } }] : [];
      case 'step-succeeded': {
        const out: Array<{ type: string; data: Record<string, unknown> }> = [
          { type: LOOM_EVENT_TYPES.jobStepSucceeded, data: { step: event.step, attempt: event.attempt } },
        ];
        if ((await this.activityOf(jobId, event.step)) === 'emit') {
          const emitted = emittedEvent(event.output);
          if (emitted === null) this.log.error({ jobId, step: event.step }, 'emit step output is not {type, data} of a non-reserved type; its event is not recorded');
          else out.push({ type: emitted.type, data: { step: event.step, event: emitted.data } });
        }
        return out;
      }
      case 'job-succeeded':
        return [{ type: LOOM_EVENT_TYPES.jobSucceeded, data: {} }];
      case 'job-failed':
        return [{ type: LOOM_EVENT_TYPES.jobFailed, data: { step: event.step, error: { code: event.error.code } } }];
      case 'job-rejected':
        return [{ type: LOOM_EVENT_TYPES.jobFailed, data: { step: event.step, error: { code: 'rejected' } } }];
      case 'job-cancelled':
        return [{ type: LOOM_EVENT_TYPES.jobCancelled, data: {} }];
      case 'job-stuck':
        return [{ type: LOOM_EVENT_TYPES.jobStuck, data: { since: new Date(event.since).toISOString() } }];
      default:
        // Attempts, decisions and the rest are progress, not outbound facts (and new log event types start silent).
        return [];
    }
  }

  private async factsOf(jobId: string): Promise<JobFacts | null> {
    const cached = this.jobs.get(jobId);
    if (cached !== undefined) return cached;
    await this.readBack(jobId);
    return this.jobs.get(jobId) ?? null;
  }

  private async activityOf(jobId: string, step: string): Promise<string | undefined> {
    const key = `${jobId} ${step}`;
    const cached = this.activities.get(key);
    if (cached !== undefined) return cached;
    await this.readBack(jobId);
    return this.activities.get(key);
  }

  /** Refills the caches from the job's own log (after a restart, the entries before the cursor were not seen). */
  private async readBack(jobId: string): Promise<void> {
    for await (const { body } of this.jobLog.readAfter(jobId, 0)) {
      const event = decodeJobEvent(body);
      if (event.type === 'job-created') this.jobs.set(jobId, { owner: event.owner, kind: event.kind });
      if (event.type === 'step-started') this.activities.set(`${jobId} ${event.step}`, event.activity);
    }
  }
}

/** Loom's own families: a pipeline cannot emit an event that would pass for one of Loom's facts. */
const RESERVED_PREFIXES = ['job.', 'agent.', 'doc.', 'upload.', 'webhook.'];

/** An emit step's recorded output `{ type, data }`, or null when it is not one. */
function emittedEvent(output: unknown): { type: string; data: Record<string, unknown> } | null {
  if (typeof output !== 'object' || output === null) return null;
  const { type, data } = output as { type?: unknown; data?: unknown };
  if (typeof type !== 'string' || !OUTBOUND_EVENT_TYPE.test(type) || RESERVED_PREFIXES.some((p) => type.startsWith(p))) return null;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return null;
  return { type, data: data as Record<string, unknown> };
}
