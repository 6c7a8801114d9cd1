/** Who owns a job, read from its first log entry (job-created) without activating it. */
import { decodeJobEvent } from '../../protocol/job-events.ts';
import { RememberedOwners } from '../events/remembered-owners.ts';
import type { JetStreamJobLog } from '../nats/jetstream-job-log.ts';

/**
 * The owner of a job, or null when the job does not exist.
 * @throws when the log cannot be read or its first entry is not a job-created event.
 */
export async function jobOwner(log: Pick<JetStreamJobLog, 'first'>, jobId: string, signal?: AbortSignal): Promise<string | null> {
  const first = await log.first(jobId, signal);
  if (first === null) return null;
  const event = decodeJobEvent(first.body);
  if (event.type !== 'job-created') throw new Error(`log of job ${jobId} starts with ${event.type}, not job-created`);
  return event.owner;
}

/** The owners of the jobs this process has checked (see RememberedOwners): one log read per job, then none. */
export class JobOwners extends RememberedOwners {
  constructor(log: Pick<JetStreamJobLog, 'first'>, max?: number) {
    super((jobId, signal) => jobOwner(log, jobId, signal), max);
  }
}
