/**
 * What the pure engine asks the actor's shell to do after the events of a
 * decision are durable. Effects never change state themselves: their
 * outcomes come back as messages (inference results as commands, local
 * activities and timers through the actor's own mailbox) and become events.
 */
import type { ArtifactRef, JobPriority } from '../../protocol/job-events.ts';
import type { JobRequestMeta } from '../../protocol/job.ts';
import type { ChatMessage } from './pipeline.ts';

/** A model call as the job asks for it; the queue adapter adds where results and tokens go. */
export interface InferenceCall {
  readonly requestId: string;
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  readonly maxTokens?: number;
  readonly temperature?: number;
  readonly responseFormat?: 'text' | 'json';
  readonly priority: JobPriority;
  readonly meta: JobRequestMeta;
}

/** A task for an outside worker, as the job asks for it; the queue adapter turns it into protocol/activity.ts's task message. */
export interface ServiceTask {
  /** Unique per job, step and attempt: the queue's dedup id and the worker's handle. */
  readonly taskId: string;
  readonly queue: string;
  readonly input: unknown;
  readonly startToCloseMs: number;
  readonly heartbeatTimeoutMs: number | null;
  readonly priority: JobPriority;
  readonly meta: JobRequestMeta;
}

export type JobTimer = 'timeout' | 'retry';

export type JobEffect =
  | { readonly type: 'submit-inference'; readonly step: string; readonly attempt: number; readonly call: InferenceCall }
  | { readonly type: 'cancel-inference'; readonly step: string; readonly requestId: string }
  | {
      readonly type: 'put-artifact';
      readonly step: string;
      readonly attempt: number;
      readonly name: string;
      readonly contentType: string;
      readonly body: string;
    }
  | {
      readonly type: 'write-document';
      readonly step: string;
      readonly attempt: number;
      readonly docId: string;
      readonly root: string;
      readonly rootType?: 'text' | 'xml';
      readonly text: string;
      readonly offset: number;
    }
  | { readonly type: 'read-object'; readonly step: string; readonly attempt: number; readonly key: string; readonly maxBytes: number }
  /** Publishes (idempotently, by task id) a task for an outside worker; the outcome comes back as an activity command. */
  | { readonly type: 'run-service'; readonly step: string; readonly attempt: number; readonly task: ServiceTask }
  /** Tells workers to stop a task (best effort; a late result is stale and ignored). */
  | { readonly type: 'cancel-service'; readonly step: string; readonly taskId: string; readonly queue: string }
  /** Stops a local activity (artifact or document write) still running for `step`. */
  | { readonly type: 'abort-step'; readonly step: string }
  | { readonly type: 'arm-timer'; readonly timer: JobTimer; readonly step: string; readonly attempt: number; readonly at: number };

/** How a local activity (artifact write, document write) ended; delivered back through the mailbox. */
export type ActivityOutcome =
  | { readonly ok: true; readonly output: unknown; readonly artifact: ArtifactRef | null }
  | { readonly ok: false; readonly error: { readonly code: string; readonly message: string }; readonly retryable: boolean };
