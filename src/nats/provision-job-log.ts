/**
 * The streams of event logs: jobs (LOOM_JOB_LOG, subjects log.job.>) and
 * agent sessions (LOOM_AGENT_LOG, subjects log.agent.>). Limits retention:
 * an actor's log is its state, so nothing expires by age; a message is one
 * event, bounded well under the server's max_payload. Idempotent: every
 * process runs it at start.
 */
import { DiscardPolicy, type JetStreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { AGENT_LOG_STREAM, AGENT_LOG_SUBJECTS, JOB_LOG_STREAM, JOB_LOG_SUBJECTS } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import { ensureStream, type WantedStream } from './replicas.ts';

export function ensureJobLogStream(jsm: JetStreamManager, log: Logger, replicas = 1): Promise<void> {
  return ensureStream(jsm, eventLogStream(JOB_LOG_STREAM, JOB_LOG_SUBJECTS), replicas, log);
}

export function ensureAgentLogStream(jsm: JetStreamManager, log: Logger, replicas = 1): Promise<void> {
  return ensureStream(jsm, eventLogStream(AGENT_LOG_STREAM, AGENT_LOG_SUBJECTS), replicas, log);
}

function eventLogStream(name: string, subjects: string): WantedStream {
  return { name, subjects: [subjects], retention: RetentionPolicy.Limits, storage: StorageType.File, discard: DiscardPolicy.New };
}
