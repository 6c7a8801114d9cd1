/**
 * The events of a job's durable log (JetStream subject log.job.<id-token>,
 * one event per message, JSON). The job actor is their only writer; the same
 * bytes are published live on event.job.<id-token>.<type> with a Loom-Seq
 * header carrying the log sequence, which is also the event id clients
 * resume from (SSE Last-Event-ID, /ws `lastEventId`). State is the fold of
 * these events; PostgreSQL rows are a projection of it.
 *
 * Every event carries `v` (layout version) and `at` (ms since the epoch,
 * when the actor decided it). Decoders reject unknown versions.
 */
import { z } from 'zod';
import type { PipelineDefinition } from './pipeline-definition.ts';
import { decodeJson, encodeJson } from './reply.ts';

export const JOB_EVENT_VERSION = 1;

/**
 * Largest output one step (or the job) may record, as UTF-8 JSON: it travels in one log event, which must stay under the
 * NATS server's max_payload (1 MiB by default, 4 MiB in deploy/). A larger one fails the step for good (`output-too-large`).
 */
export const MAX_STEP_OUTPUT_BYTES = 1024 * 1024;
/**
 * Most output bytes (JSON) all of one job's steps may record together: every output stays in the job's state on its
 * actor host and in its log. A step whose output would pass it fails for good (`job-outputs-too-large`).
 */
export const MAX_JOB_OUTPUT_BYTES = 64 * 1024 * 1024;

/**
 * What a step does: a model call, a pure built-in tool, an object write, a write into a live document, a human decision, reading an uploaded input,
 * a task for an outside worker; and the control steps of pipeline definitions: an outbound event (`emit`), a branch (`choice`), and the
 * containers `map` and `loop`, which run until the instances they started are done.
 */
export const ACTIVITY_TYPES = ['inference', 'tool', 'artifact', 'document-write', 'approval', 'object-read', 'service', 'emit', 'choice', 'map', 'loop'] as const;
export type ActivityType = (typeof ACTIVITY_TYPES)[number];

/** Token and latency accounting of one model call, priced when it was recorded. */
export const usageSchema = z.object({
  model: z.string().max(200),
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
  timeToFirstTokenMs: z.number().nonnegative().nullable(),
  durationMs: z.number().nonnegative(),
  /** From the configured price table at the time of the call; 0 for unpriced models. */
  costUsd: z.number().nonnegative(),
});
export type Usage = z.infer<typeof usageSchema>;

/** Why an attempt, a step or a job failed. `code` is stable, `message` is for people. */
export const jobErrorSchema = z.object({ code: z.string().min(1).max(64), message: z.string().max(4_000) });
export type JobError = z.infer<typeof jobErrorSchema>;

/** An object a step wrote (exactly once, under a key derived from job, step and name). */
export const artifactRefSchema = z.object({
  step: z.string(),
  name: z.string(),
  key: z.string(),
  contentType: z.string(),
  bytes: z.number().int().nonnegative(),
});
export type ArtifactRef = z.infer<typeof artifactRefSchema>;

/** Retry and concurrency policy fixed at creation, so a replay never depends on today's config. */
export const jobPolicySchema = z.object({
  maxAttempts: z.number().int().min(1).max(100),
  stepTimeoutMs: z.number().int().min(1),
  maxParallelSteps: z.number().int().min(1).max(1_000),
  retryBaseMs: z.number().int().min(0),
  retryMaxMs: z.number().int().min(0),
});
export type JobPolicy = z.infer<typeof jobPolicySchema>;

export const JOB_PRIORITIES = ['interactive', 'batch'] as const;
export type JobPriority = (typeof JOB_PRIORITIES)[number];

const base = { v: z.literal(JOB_EVENT_VERSION), at: z.number().int().nonnegative() };
/** A step instance: a definition's step id, plus `.r<round>` for a revision round and `.<n>` for a loop iteration or map item. */
const stepName = z.string().min(1).max(128);

/** Why a step did not run (or stopped counting): `skipped` steps satisfy their dependents; only `failed` ones let them run, the others make dependents that wait on nothing else unreachable too. */
export const SKIP_REASONS = ['branch-not-taken', 'unreachable', 'not-reached', 'failed', 'diverted'] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

/** The definition a job runs when it was started from a registered pipeline: recorded at creation, so a running job never changes definition. */
export const jobPipelineSchema = z.object({
  kind: z.string().min(1).max(64),
  version: z.number().int().min(1),
  /** A PipelineDefinition, validated whole (validatePipelineDefinition) when the job is started; here only its being an object is checked. */
  definition: z.custom<PipelineDefinition>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'must be a pipeline definition (an object)'),
});
export type JobPipeline = z.infer<typeof jobPipelineSchema>;

const jobCreated = z.object({
  type: z.literal('job-created'),
  ...base,
  kind: z.string(),
  input: z.unknown(),
  owner: z.string(),
  idempotencyKey: z.string().nullable(),
  targetDocId: z.string().nullable(),
  /** sha256 of the canonical input; a reused idempotency key with another input is a conflict. */
  inputHash: z.string(),
  priority: z.enum(JOB_PRIORITIES),
  model: z.string(),
  policy: jobPolicySchema,
  /** Absent for built-in kinds, which run the catalog's definition of the moment. */
  pipeline: jobPipelineSchema.optional(),
});

const stepStarted = z.object({
  type: z.literal('step-started'),
  ...base,
  step: stepName,
  activity: z.enum(ACTIVITY_TYPES),
  attempt: z.number().int().min(1),
  /** Inference request id of this attempt (dedup key on the queue and of results). */
  requestId: z.string().nullable(),
  /** When the attempt times out; null for approvals, which wait as long as it takes. */
  deadlineAt: z.number().int().nullable(),
});

const stepSucceeded = z.object({
  type: z.literal('step-succeeded'),
  ...base,
  step: stepName,
  attempt: z.number().int().min(1),
  output: z.unknown(),
  usage: usageSchema.nullable(),
  artifact: artifactRefSchema.nullable(),
});

const stepAttemptFailed = z.object({
  type: z.literal('step-attempt-failed'),
  ...base,
  step: stepName,
  attempt: z.number().int().min(1),
  error: jobErrorSchema,
  /** Tokens spent by the failed attempt (an invalid structured output still cost them). */
  usage: usageSchema.nullable(),
  /** When the next attempt starts; null when the step has failed for good. */
  retryAt: z.number().int().nullable(),
});

const approvalDecided = z.object({
  type: z.literal('approval-decided'),
  ...base,
  step: stepName,
  approved: z.boolean(),
  by: z.string(),
  comment: z.string().nullable(),
});

const jobSucceeded = z.object({ type: z.literal('job-succeeded'), ...base, output: z.unknown() });

const jobFailed = z.object({
  type: z.literal('job-failed'),
  ...base,
  /** The step that exhausted its attempts, or null for a job-level cause. */
  step: stepName.nullable(),
  error: jobErrorSchema,
  attempts: z.number().int().nonnegative(),
});

const jobCancelled = z.object({ type: z.literal('job-cancelled'), ...base, by: z.string(), reason: z.string().nullable() });

const jobRejected = z.object({ type: z.literal('job-rejected'), ...base, step: stepName, by: z.string(), comment: z.string().nullable() });

/**
 * The stuck-job watchdog's flag: a pending or running job appended nothing
 * for `stuckAfterMs` (LOOM_JOB_STUCK_AFTER_MS). `since` is when its last
 * progress event happened. Any later event clears the flag; it is not progress.
 */
const jobStuck = z.object({ type: z.literal('job-stuck'), ...base, since: z.number().int().nonnegative(), stuckAfterMs: z.number().int().positive() });

/**
 * A step that will not run (a branch not taken, nothing left to wait on, a
 * handler never reached), or one that failed for good and whose onFailure
 * says skip (`failed`) or go to a handler (`diverted`); its last error stays.
 */
const stepSkipped = z.object({ type: z.literal('step-skipped'), ...base, step: stepName, activity: z.enum(ACTIVITY_TYPES), reason: z.enum(SKIP_REASONS) });

/**
 * A rejection with a comment at an approval step with a revision: the
 * pipeline re-enters at `reenterAt` as round `round` (2, 3, ...), running that
 * step and every step after it again with the comment in their context.
 * `cancelled` lists instances that were still running and are now stopped.
 */
const jobRevised = z.object({
  type: z.literal('job-revised'),
  ...base,
  step: stepName,
  reenterAt: stepName,
  round: z.number().int().min(2),
  by: z.string(),
  comment: z.string().min(1).max(4_000),
  cancelled: z.array(stepName).max(1_000),
});

export const jobEventSchema = z.discriminatedUnion('type', [
  jobCreated,
  stepStarted,
  stepSucceeded,
  stepAttemptFailed,
  approvalDecided,
  jobSucceeded,
  jobFailed,
  jobCancelled,
  jobRejected,
  jobStuck,
  stepSkipped,
  jobRevised,
]);
export type JobEvent = z.infer<typeof jobEventSchema>;
export type JobEventType = JobEvent['type'];
export type JobEventOf<T extends JobEventType> = Extract<JobEvent, { type: T }>;

export const JOB_EVENT_TYPES = [
  'job-created',
  'step-started',
  'step-succeeded',
  'step-attempt-failed',
  'approval-decided',
  'job-succeeded',
  'job-failed',
  'job-cancelled',
  'job-rejected',
  'job-stuck',
  'step-skipped',
  'job-revised',
] as const satisfies readonly JobEventType[];

/** Events after which nothing more is appended. */
export const TERMINAL_JOB_EVENTS: ReadonlySet<JobEventType> = new Set(['job-succeeded', 'job-failed', 'job-cancelled', 'job-rejected']);

export function isJobEventType(name: string): name is JobEventType {
  return (JOB_EVENT_TYPES as readonly string[]).includes(name);
}

/** A job event with its position in the job's log. */
export interface SequencedJobEvent {
  readonly seq: number;
  readonly event: JobEvent;
}

export function encodeJobEvent(event: JobEvent): Uint8Array {
  return encodeJson(event);
}

/**
 * Decodes one log entry or live event body.
 * @throws ProtocolError `malformed-message` naming the fault (unknown type or version included).
 */
export function decodeJobEvent(body: Uint8Array): JobEvent {
  return decodeJson(body, jobEventSchema, 'job event');
}
