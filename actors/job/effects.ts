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
      readonly text: string;
      readonly offset: number;
    }
  | { readonly type: 'read-object'; readonly step: string; readonly attempt: number; readonly key: string; readonly maxBytes: number }
  /** Stops a local activity (artifact or document write) still running for `step`. */
  | { readonly type: 'abort-step'; readonly step: string }
  | { readonly type: 'arm-timer'; readonly timer: JobTimer; readonly step: string; readonly attempt: number; readonly at: number };

/** How a local activity (artifact write, document write) ended; delivered back through the mailbox. */
export type ActivityOutcome =
  | { readonly ok: true; readonly output: unknown; readonly artifact: ArtifactRef | null }
  | { readonly ok: false; readonly error: { readonly code: string; readonly message: string }; readonly retryable: boolean };
