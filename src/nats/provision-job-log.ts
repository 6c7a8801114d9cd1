/**
 * The streams of event logs: jobs (LOOM_JOB_LOG, subjects log.job.>) and
 * agent sessions (LOOM_AGENT_LOG, subjects log.agent.>). Limits retention:
 * an actor's log is its state, so nothing expires by age; a message is one
 * event, bounded well under the server's max_payload. Idempotent: every
 * process runs it at start.
 */
import { DiscardPolicy, JetStreamApiCodes, JetStreamApiError, type JetStreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { AGENT_LOG_STREAM, AGENT_LOG_SUBJECTS, JOB_LOG_STREAM, JOB_LOG_SUBJECTS } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';

export function ensureJobLogStream(jsm: JetStreamManager, log: Logger): Promise<void> {
  return ensureEventLogStream(jsm, JOB_LOG_STREAM, JOB_LOG_SUBJECTS, log);
}

export function ensureAgentLogStream(jsm: JetStreamManager, log: Logger): Promise<void> {
  return ensureEventLogStream(jsm, AGENT_LOG_STREAM, AGENT_LOG_SUBJECTS, log);
}

async function ensureEventLogStream(jsm: JetStreamManager, stream: string, subjects: string, log: Logger): Promise<void> {
  try {
    await jsm.streams.info(stream);
    return;
  } catch (err) {
    if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
  }
  try {
    await jsm.streams.add({
      name: stream,
      subjects: [subjects],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      num_replicas: 1,
    });
    log.info({ stream }, 'stream created');
  } catch (err) {
    // Another process may have created it between our info and add: fine if it exists now.
    if (!(err instanceof JetStreamApiError)) throw err;
    await jsm.streams.info(stream);
  }
}
