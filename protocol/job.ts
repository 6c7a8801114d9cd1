/**
 * Job actor messages (kind `job`): the public contract for gateways and
 * internal services. Layouts are described in PROTOCOL.md ("Jobs").
 *
 * Commands (request/reply on actor.job.<id-token>.<command>, JSON bodies):
 *   start             StartJobRequest      -> StartJobReply   creates the job, or returns the existing one (idempotent by id)
 *   get               empty                -> JobView
 *   cancel            CancelJobRequest     -> JobView         no new steps; in-flight inference is cancelled
 *   approve           ApproveJobRequest    -> JobView         decides the step waiting for approval
 *   resume            empty                -> JobView         no-op beyond activation: re-arms a job whose host died
 *   output            JobOutputRequest     -> JobOutputReply  one output in full: a step's, or the job's (views may leave large ones out)
 *   inference-result  InferenceResult      -> empty           from inference workers (protocol/inference.ts); duplicates are acknowledged and ignored
 * Events (event.job.<id-token>.<event>):
 *   <JobEvent type>   a JobEvent (protocol/job-events.ts), header Loom-Seq = its log sequence
 *   token             TokenDelta (protocol/inference.ts), published by inference workers; live only, no sequence
 */
import { z } from 'zod';
import { refineStorable, storableText } from './storable-json.ts';
import { JOB_PRIORITIES, artifactRefSchema, jobErrorSchema, jobPipelineSchema, usageSchema, ACTIVITY_TYPES, SKIP_REASONS } from './job-events.ts';

export const JOB_COMMANDS = ['start', 'get', 'cancel', 'approve', 'resume', 'output', 'steps', 'inference-result'] as const;
export type JobCommand = (typeof JOB_COMMANDS)[number];

export function isJobCommand(name: string): name is JobCommand {
  return (JOB_COMMANDS as readonly string[]).includes(name);
}

/** Command that carries inference results back to a job (InferenceRequest.replyTo.command). */
export const JOB_INFERENCE_RESULT_COMMAND = 'inference-result' satisfies JobCommand;
/** Event name inference workers publish token deltas on (InferenceRequest.tokensTo.event). */
export const JOB_TOKEN_EVENT = 'token';

export const JOB_STATUSES = ['pending', 'running', 'waiting-approval', 'succeeded', 'failed', 'cancelled', 'rejected'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_JOB_STATUSES: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'cancelled', 'rejected']);

export const STEP_STATUSES = ['running', 'retry-wait', 'waiting-approval', 'succeeded', 'failed', 'cancelled', 'skipped'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

/** Job kinds are dotted lowercase names: `document.generate`. */
export const JOB_KIND_PATTERN = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;
/** Idempotency keys: printable ASCII, as in the IETF Idempotency-Key draft. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export const startJobRequestSchema = z
  .object({
    kind: z.string().regex(JOB_KIND_PATTERN, 'must be a dotted lowercase job kind such as document.generate').max(64),
    input: z.unknown(),
    /** Who the job belongs to (user id). Only the owner may read, follow, cancel or approve it through the gateway. */
    owner: storableText().min(1).max(200),
    idempotencyKey: z.string().regex(IDEMPOTENCY_KEY_PATTERN, 'must be 1-255 printable ASCII characters').nullable().default(null),
    targetDocId: storableText().min(1).max(200).nullable().default(null),
    priority: z.enum(JOB_PRIORITIES).default('batch'),
    /** Model for the job's calls; null: the server's default model. */
    model: storableText().min(1).max(200).nullable().default(null),
    /** The registered definition to run (pipe-registry resolves kind and version); null: the built-in definition of `kind`. Validated again by the job. */
    pipeline: jobPipelineSchema.nullable().default(null),
  })
  .strict()
  .superRefine((req, ctx) => {
    // Internal services send these over NATS with no HTTP edge before them (protocol/storable-json.ts says what went wrong).
    refineStorable(req.input, ['input'], ctx);
    if (req.pipeline !== null) refineStorable(req.pipeline.definition, ['pipeline', 'definition'], ctx);
  });
export type StartJobRequest = z.input<typeof startJobRequestSchema>;
export type ParsedStartJobRequest = z.output<typeof startJobRequestSchema>;

export const cancelJobRequestSchema = z.object({ by: storableText().min(1).max(200), reason: storableText().max(1_000).nullable().default(null) }).strict();
export type CancelJobRequest = z.input<typeof cancelJobRequestSchema>;

export const approveJobRequestSchema = z
  .object({
    by: storableText().min(1).max(200),
    approved: z.boolean(),
    /** Which waiting step; optional while only one step waits. */
    step: storableText().min(1).max(128).nullable().default(null),
    comment: storableText().max(4_000).nullable().default(null),
  })
  .strict();
export type ApproveJobRequest = z.input<typeof approveJobRequestSchema>;

const usageTotalsSchema = z.object({
  calls: z.number().int().nonnegative(),
  promptTokens: z.number().int().nonnegative(),
  completionTokens: z.number().int().nonnegative(),
  costUsd: z.number().nonnegative(),
  /** Sum of model call durations. */
  modelMs: z.number().nonnegative(),
});
export type UsageTotals = z.infer<typeof usageTotalsSchema>;

export const jobStepViewSchema = z.object({
  id: z.string(),
  activity: z.enum(ACTIVITY_TYPES),
  status: z.enum(STEP_STATUSES),
  /** Why a `skipped` step did not run (protocol/job-events.ts SKIP_REASONS); null otherwise. */
  skipReason: z.enum(SKIP_REASONS).nullable().default(null),
  attempt: z.number().int(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  retryAt: z.string().nullable(),
  error: jobErrorSchema.nullable(),
  usage: usageTotalsSchema,
  calls: z.array(usageSchema),
  output: z.unknown(),
  /** Present only when `output` (then null) was left out to keep the view within one message; the `output` command (GET …/output) serves it. */
  outputOmitted: z.literal(true).optional(),
});
export type JobStepView = z.infer<typeof jobStepViewSchema>;

/** A running service task a worker holds (JobView.serviceTasks, without its step). */
export const heldServiceTaskSchema = z.object({ attempt: z.number().int(), workerId: z.string(), claimedAt: z.string(), lastHeartbeatAt: z.string(), progress: z.unknown() });
/** A running step's queue with no live worker (JobView.waitingForWorker, without its step). */
export const waitingForWorkerSchema = z.object({ activity: z.enum(['service', 'inference']), queue: z.string() });

/** What `get` (and GET /v1/jobs/:id, minus download URLs) returns. */
export const jobViewSchema = z.object({
  id: z.string(),
  kind: z.string(),
  status: z.enum(JOB_STATUSES),
  owner: z.string(),
  idempotencyKey: z.string().nullable(),
  targetDocId: z.string().nullable(),
  priority: z.enum(JOB_PRIORITIES),
  model: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  finishedAt: z.string().nullable(),
  /** Sequence of the last event folded in: the id to resume events after. */
  lastSeq: z.number().int().nonnegative(),
  steps: z.array(jobStepViewSchema),
  /** Steps waiting for a human decision. */
  waitingFor: z.array(z.string()),
  output: z.unknown(),
  /** Present only when `output` (then null) was left out to keep the view within one message; the `output` command (GET …/output) serves it. */
  outputOmitted: z.literal(true).optional(),
  /**
   * Present only when the step list alone would not fit one message (thousands of map instances, long errors): `steps`
   * is then empty, `stepCounts` counts them by status, and the `steps` command (GET …/steps) pages them.
   */
  stepsOmitted: z.literal(true).optional(),
  stepCounts: z.record(z.enum(STEP_STATUSES), z.number().int().nonnegative()).optional(),
  /**
   * Present only with `stepsOmitted`, when waitingFor, artifacts, serviceTasks or waitingForWorker were cut to their
   * first VIEW_LIST_LIMIT entries; the `steps` pages carry each step's status, artifact, service task and waiting state.
   */
  listsTruncated: z.literal(true).optional(),
  artifacts: z.array(artifactRefSchema),
  error: jobErrorSchema.nullable(),
  usage: usageTotalsSchema.extend({ durationMs: z.number().nonnegative() }),
  /** Flagged by the stuck-job watchdog: pending or running with no new event for LOOM_JOB_STUCK_AFTER_MS; cleared by its next event. */
  stuck: z.boolean().default(false),
  /** Since when a stuck job has not moved (its last event before the flag); null unless stuck. */
  stuckSince: z.string().nullable().default(null),
  /** The registered pipeline version the job runs (recorded at creation, never changed); null for a built-in kind. */
  pipeline: z.object({ kind: z.string(), version: z.number().int() }).nullable().default(null),
  /** `waiting-for-worker` while a running step waits on a model or service queue with no live worker (see waitingForWorker); else null. */
  statusDetail: z.enum(['waiting-for-worker']).nullable().default(null),
  /** The running steps whose queue (a service queue, or an inference model) has no live worker. */
  waitingForWorker: z.array(waitingForWorkerSchema.extend({ step: z.string() })).default([]),
  /** Running service tasks a worker holds: which worker, since when, its last heartbeat and the progress it reported (PROTOCOL.md §17). */
  serviceTasks: z.array(heldServiceTaskSchema.extend({ step: z.string() })).default([]),
});
export type JobView = z.infer<typeof jobViewSchema>;

/** `output`: one step's output (`step`), or the job's own output (no `step`). */
export const jobOutputRequestSchema = z.object({ step: storableText().min(1).max(200).optional() }).strict();
export type JobOutputRequest = z.input<typeof jobOutputRequestSchema>;

/** What `output` returns: `step` null for the job's own output; `output` null while there is none yet. */
export const jobOutputReplySchema = z.object({ step: z.string().nullable(), output: z.unknown() });
export type JobOutputReply = z.infer<typeof jobOutputReplySchema>;

/** Most step instances one `steps` page holds (a page also stops early to fit one message). */
export const MAX_STEPS_PAGE = 1_000;
/** Entries a summarised view keeps of each of its lists (`listsTruncated`). */
export const VIEW_LIST_LIMIT = 20;

/** `steps`: a page of the job's step instances, in start order, from `offset`. */
export const jobStepsRequestSchema = z
  .object({ offset: z.number().int().min(0).max(1_000_000).default(0), limit: z.number().int().min(1).max(MAX_STEPS_PAGE).default(100) })
  .strict();
export type JobStepsRequest = z.input<typeof jobStepsRequestSchema>;

/**
 * A step of a `steps` page: its view plus the artifact it stored (null when none), and, while it runs, the
 * worker holding its service task and whether its queue has no live worker: what a summarised view's
 * `serviceTasks` and `waitingForWorker` list, for every step (null when not the case).
 */
export const jobStepPageEntrySchema = jobStepViewSchema.extend({
  artifact: artifactRefSchema.nullable(),
  serviceTask: heldServiceTaskSchema.nullable().default(null),
  waitingForWorker: waitingForWorkerSchema.nullable().default(null),
});

/**
 * What `steps` returns: `total` step instances, the page's `steps` from `offset`, and `nextOffset` to ask for
 * next (null at the end). A page holds at most `limit` steps and stops early to fit one message; a step whose
 * output alone would not fit has it left out (`outputOmitted`, served by `output`).
 */
export const jobStepsReplySchema = z.object({
  total: z.number().int().nonnegative(),
  offset: z.number().int().nonnegative(),
  nextOffset: z.number().int().nonnegative().nullable(),
  steps: z.array(jobStepPageEntrySchema),
});
export type JobStepsReply = z.infer<typeof jobStepsReplySchema>;

export const startJobReplySchema = z.object({ created: z.boolean(), job: jobViewSchema });
export type StartJobReply = z.infer<typeof startJobReplySchema>;

/**
 * An uploaded file a job reads as input. Clients send `{ "uploadId" }`; the
 * gateway checks it is theirs and complete (POST /v1/uploads) and stores the
 * resolved object here. Internal services may name an object key directly.
 */
export const jobSourceSchema = z
  .object({
    uploadId: z.string().max(100).optional(),
    objectKey: z.string().min(1).max(512),
    filename: z.string().max(255).default('source'),
    contentType: z.string().max(255).default('text/plain'),
    size: z.number().int().nonnegative().optional(),
  })
  .strict();
export type JobSource = z.infer<typeof jobSourceSchema>;

/** What a job puts in `meta` of its inference requests (echoed on results and token deltas, protocol/inference.ts). */
export interface JobRequestMeta {
  readonly [key: string]: string | number;
  readonly jobId: string;
  readonly step: string;
  readonly attempt: number;
}
