/**
 * What the job actor needs from the outside world, declared here by the
 * consumer and implemented by adapters in src/ (JetStream log, inference
 * queue, PostgreSQL projection, document actor client). Object storage is
 * the shared ArtifactStore port of actors/ports/. The actor never sees NATS
 * or SQL.
 */
import type { JobError, JobEvent } from '../../protocol/job-events.ts';
import type { JobStatus, StepStatus, UsageTotals } from '../../protocol/job.ts';
import type { ActivityType } from '../../protocol/job-events.ts';
import type { InferenceCall, ServiceTask } from './effects.ts';
import type { WorkerKind } from '../../protocol/activity.ts';

export type { ArtifactStore } from '../ports/index.ts';

/** One durable entry of a job's event log. */
export interface JobLogEntry {
  /** Position in the log; strictly increasing per job. It is the event's id for clients. */
  readonly seq: number;
  /** An encoded JobEvent (protocol/job-events.ts). */
  readonly body: Uint8Array;
}

/** The durable, per-job, append-only event log. */
export interface JobLog {
  /**
   * Appends an encoded event if the job's last entry still is `expectedLastSeq`
   * (0 = none yet): the check that fences a stale owner out. `event`, when
   * given, is the event `body` encodes: wrappers that read what is appended
   * (metrics) take it instead of decoding the body again.
   * @returns the new entry's seq.
   * @throws JobLogFencingError when another writer appended meanwhile.
   */
  append(id: string, body: Uint8Array, expectedLastSeq: number, event?: JobEvent): Promise<number>;
  /** Entries with seq > afterSeq in order, up to the log's end when called. */
  readAfter(id: string, afterSeq: number, signal?: AbortSignal): AsyncIterable<JobLogEntry>;
}

/** Thrown by JobLog.append when the expected last seq no longer holds. */
export class JobLogFencingError extends Error {
  override readonly name = 'JobLogFencingError';
  readonly code = 'not-owner';
  constructor(
    readonly jobId: string,
    readonly expectedLastSeq: number,
    options?: { cause?: unknown },
  ) {
    super(`log of job ${jobId} moved past seq ${expectedLastSeq}: another owner wrote to it`, options);
  }
}

/** The inference work queue, as a job uses it. */
export interface InferenceQueue {
  /**
   * Enqueues a model call; resubmitting the same requestId is deduplicated
   * by the queue. The result comes back as the job's `inference-result`
   * command, token deltas as its `token` event.
   */
  submit(jobId: string, call: InferenceCall): Promise<void>;
  /** Asks workers to stop a call (best effort; a result may still arrive and is then ignored). */
  cancel(requestId: string): Promise<void>;
}

/** The work queue of service activities (protocol/activity.ts), as a job uses it. */
export interface ServiceQueue {
  /**
   * Publishes a task for the queue's workers; republishing the same task id
   * is deduplicated by the queue. The worker's claim, heartbeats and
   * completion come back as the job's `activity-*` commands.
   * @throws when the queue does not take it (the attempt then fails, retryably).
   */
  publish(task: ServiceTask, now: number): Promise<void>;
  /** Tells the queue's workers to stop a task (best effort: a result that still arrives is stale and ignored). */
  cancel(queue: string, taskId: string, reason: string): Promise<void>;
}

/** Which queues have a live worker right now (a service queue name, or an inference model name). */
export interface WorkerPresence {
  isLive(kind: WorkerKind, queue: string): boolean;
}

/** A live collaborative document, reached through its actor. */
export interface DocumentPort {
  /**
   * What the document holds that a replica with `stateVector` lacks, as a
   * Yjs update (empty state vector: the whole document).
   * @throws when the document actor cannot be reached or refuses.
   */
  sync(docId: string, stateVector: Uint8Array, signal: AbortSignal): Promise<Uint8Array>;
  /**
   * Applies a Yjs update durably (the document actor acknowledges after its append).
   * `author` is its Loom-Author (protocol/attribution.ts), e.g. `job:<id>` or
   * `agent:<id>`; absent, the update is attributed to `unknown`.
   */
  update(docId: string, update: Uint8Array, signal: AbortSignal, author?: string): Promise<void>;
}

/** The rows of a job in the query projection, as of `job.lastSeq`. */
export interface JobProjectionRecord {
  readonly job: {
    readonly id: string;
    readonly kind: string;
    readonly owner: string;
    readonly idempotencyKey: string | null;
    readonly targetDocId: string | null;
    readonly status: JobStatus;
    /** Work is running or retrying: the job must be live on some host (the supervisor's query). */
    readonly needsHost: boolean;
    readonly lastSeq: number;
    readonly input: unknown;
    readonly output: unknown;
    readonly error: JobError | null;
    readonly usage: UsageTotals & { readonly durationMs: number };
    readonly createdAt: Date;
    readonly updatedAt: Date;
    readonly finishedAt: Date | null;
  };
  readonly steps: ReadonlyArray<{
    readonly jobId: string;
    readonly step: string;
    readonly activity: ActivityType;
    readonly status: StepStatus;
    readonly attempt: number;
    readonly error: JobError | null;
    readonly usage: UsageTotals;
    readonly startedAt: Date;
    readonly finishedAt: Date | null;
    readonly lastSeq: number;
  }>;
  /** Present once the job failed: the cause, for the dead-letter table. */
  readonly deadLetter: {
    readonly jobId: string;
    readonly kind: string;
    readonly owner: string;
    readonly step: string | null;
    readonly attempts: number;
    readonly error: JobError;
    readonly lastAttemptError: JobError | null;
    readonly failedAt: Date;
  } | null;
}

/** Where job state is projected for queries. Writes are idempotent and ordered by lastSeq (older records never overwrite newer ones). */
export interface JobProjection {
  save(record: JobProjectionRecord): Promise<void>;
}

/** Time and randomness, injected so decisions are reproducible in tests. */
export interface JobClock {
  now(): number;
  /** A draw in [0, 1). */
  random(): number;
}
