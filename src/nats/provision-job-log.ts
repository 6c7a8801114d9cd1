/**
 * The stream of job event logs (LOOM_JOB_LOG, subjects log.job.>). Limits
 * retention: a job's log is its state, so nothing expires by age; a
 * message is one event, bounded well under the server's max_payload.
 * Idempotent: every process runs it at start.
 */
import { DiscardPolicy, JetStreamApiCodes, JetStreamApiError, type JetStreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { JOB_LOG_STREAM, JOB_LOG_SUBJECTS } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';

export async function ensureJobLogStream(jsm: JetStreamManager, log: Logger): Promise<void> {
  try {
    await jsm.streams.info(JOB_LOG_STREAM);
    return;
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
  }
  try {
    await jsm.streams.add({
      name: JOB_LOG_STREAM,
      subjects: [JOB_LOG_SUBJECTS],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      num_replicas: 1,
    });
    log.info({ stream: JOB_LOG_STREAM }, 'stream created');
  } catch (err) {
    // Another process may have created it between our info and add: fine if it exists now.
    if (!(err instanceof JetStreamApiError)) throw err;
    await jsm.streams.info(JOB_LOG_STREAM);
  }
}
