/**
 * Rebuilds the job projection (jobs, job_steps, job_dead_letters) from the
 * job logs: the log is the truth, and every projected row is a pure
 * function of its fold (actors/job view.ts). Lists the jobs from the
 * stream's subjects (`log.job.*`), replays each and writes its full record.
 * Writes never move a row backwards, so it is safe beside live jobs.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { projectionRecord, replayJob, type JobLog, type JobProjection } from '../../actors/job/index.ts';
import { JOB_LOG_STREAM, JOB_LOG_SUBJECTS, parseJobLogSubject } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';

export interface RebuildResult {
  readonly jobs: number;
  readonly failed: number;
}

/**
 * Replays every job (or the given ones) into the projection.
 * @throws when the stream cannot be listed; a job that fails to replay is logged and counted.
 */
export async function rebuildJobProjection(
  deps: { jsm: JetStreamManager; log: JobLog; projection: JobProjection; logger: Logger },
  ids?: readonly string[],
): Promise<RebuildResult> {
  let jobIds = ids;
  if (jobIds === undefined) {
    const info = await deps.jsm.streams.info(JOB_LOG_STREAM, { subjects_filter: JOB_LOG_SUBJECTS });
    jobIds = Object.keys(info.state.subjects ?? {}).map(parseJobLogSubject);
  }
  let jobs = 0;
  let failed = 0;
  for (const id of jobIds) {
    try {
      const state = await replayJob(id, { log: deps.log });
      if (state.created === null) continue;
      await deps.projection.save(projectionRecord(state));
      jobs++;
    } catch (err) {
      failed++;
      deps.logger.error({ err, jobId: id }, 'rebuilding the projection of a job failed');
    }
  }
  deps.logger.info({ jobs, failed }, 'job projection rebuilt from the logs');
  return { jobs, failed };
}
