/**
 * Service activities: the contract between Loom and the workers any platform
 * brings (a `service` step of a pipeline). Everything here is plain NATS and
 * JSON, so a worker needs only a NATS client with JetStream (PROTOCOL.md,
 * "Service activities", shows one in a few lines).
 *
 *   activity.task.<queue>.<priority>   JetStream work queue LOOM_ACTIVITIES: one task per attempt
 *   activity.claim                     request/reply: "I take this task" (answer: run it or drop it)
 *   activity.heartbeat                 request/reply: "still alive" + progress (answer: go on or stop)
 *   activity.complete                  request/reply: the result or a failure (answer: accepted or stale)
 *   activity.cancel.<queue>            Loom tells the queue's workers to stop a task (fan-out)
 *   $KV.loom_workers.service.<queue>.<worker-id>   a worker's presence (plain publish every few seconds)
 *
 * Every message carries `v` (layout version); decoders reject others.
 */
import { z } from 'zod';
import { JOB_PRIORITIES, jobErrorSchema, type JobPriority } from './job-events.ts';
import { ProtocolError } from './errors.ts';
import { refineStorable } from './storable-json.ts';
import { decodeJson, encodeJson, type WireMessage } from './reply.ts';

export const ACTIVITY_VERSION = 1;

export const ACTIVITY_STREAM = 'LOOM_ACTIVITIES';
export const ACTIVITY_TASK_SUBJECTS = 'activity.task.*.*';
/**
 * ACTIVITY_STREAM's republish rule: once a task is stored, nats-server
 * publishes its headers alone on `activity.ring.<queue>.<priority>`, the
 * workers' doorbell (a ring means a pull now finds the task).
 */
export const ACTIVITY_RING_REPUBLISH = { src: ACTIVITY_TASK_SUBJECTS, dest: 'activity.ring.{{wildcard(1)}}.{{wildcard(2)}}', headers_only: true } as const;
export const ACTIVITY_CLAIM_SUBJECT = 'activity.claim';
export const ACTIVITY_HEARTBEAT_SUBJECT = 'activity.heartbeat';
export const ACTIVITY_COMPLETE_SUBJECT = 'activity.complete';
/** Queue group of the Loom processes that answer claims, heartbeats and completions. */
export const ACTIVITY_SERVICE_GROUP = 'loom-activities';
/** The job actor commands Loom's activity service forwards worker messages as (actor.job.<id>.<command>). */
export const ACTIVITY_COMMANDS = ['activity-claim', 'activity-heartbeat', 'activity-complete'] as const;
export type ActivityCommand = (typeof ACTIVITY_COMMANDS)[number];

export function isActivityCommand(name: string): name is ActivityCommand {
  return (ACTIVITY_COMMANDS as readonly string[]).includes(name);
}

/** Priorities, like inference: workers pull interactive tasks first. */
export const ACTIVITY_PRIORITIES = JOB_PRIORITIES;

/** Queue names: lowercase letters, digits, '-' and '_' (a subject token and part of a consumer name). */
export const QUEUE_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;
/** Task ids: `<job>.<step>.<attempt>` (or a digest of job and step), 1-128 of [A-Za-z0-9_:.=-]. */
const TASK_ID = /^[A-Za-z0-9_:.=-]{1,128}$/;
/** Worker ids: chosen by the worker, unique among live workers (hostname + pid is enough). */
export const WORKER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export const ACTIVITY_LIMITS = {
  /** Largest message a worker sends (a completion with its output). */
  maxMessageBytes: 512 * 1024,
  /** Largest heartbeat progress, as JSON. */
  maxProgressBytes: 4 * 1024,
  /** Largest task input, as JSON (checked when a task is published). */
  maxInputBytes: 256 * 1024,
} as const;

/** Worker presence: a key per live worker, refreshed every WORKER_PRESENCE_REFRESH_MS, gone after the bucket's TTL. */
export const WORKER_PRESENCE_BUCKET = 'loom_workers';
export const WORKER_PRESENCE_TTL_MS = 15_000;
export const WORKER_PRESENCE_REFRESH_MS = 5_000;
/** What a worker serves: a service queue or an inference model (its subject token). */
export type WorkerKind = 'service' | 'inference';

/**
 * Validates a queue name.
 * @throws ProtocolError `malformed-message`.
 */
export function parseQueueName(raw: string): string {
  if (!QUEUE_NAME_PATTERN.test(raw)) {
    throw new ProtocolError('malformed-message', `invalid activity queue ${JSON.stringify(raw.slice(0, 80))}: it must match ${QUEUE_NAME_PATTERN.source}`);
  }
  return raw;
}

export function activityTaskSubject(queue: string, priority: JobPriority): string {
  return `activity.task.${parseQueueName(queue)}.${priority}`;
}

/** `activity.ring.<queue>.<priority>`: where a stored task rings (ACTIVITY_RING_REPUBLISH). */
export function activityRingSubject(queue: string, priority: JobPriority): string {
  return `activity.ring.${parseQueueName(queue)}.${priority}`;
}

/**
 * Inverse of activityTaskSubject.
 * @throws ProtocolError `invalid-subject`.
 */
export function parseActivityTaskSubject(subject: string): { queue: string; priority: JobPriority } {
  const [a, t, queue, priority, ...rest] = subject.split('.');
  const p = ACTIVITY_PRIORITIES.find((x) => x === priority);
  if (a !== 'activity' || t !== 'task' || queue === undefined || !QUEUE_NAME_PATTERN.test(queue) || p === undefined || rest.length > 0) {
    throw new ProtocolError('invalid-subject', `not an activity task subject: ${JSON.stringify(subject.slice(0, 120))}`);
  }
  return { queue, priority: p };
}

/** The durable pull consumer workers of (queue, priority) share. */
export function activityConsumerName(queue: string, priority: JobPriority): string {
  return `activity-${parseQueueName(queue)}-${priority}`;
}

export function activityCancelSubject(queue: string): string {
  return `activity.cancel.${parseQueueName(queue)}`;
}

/** The presence key of one worker (a KV key: the bucket's subject is `$KV.loom_workers.<key>`). */
export function workerPresenceKey(kind: WorkerKind, queue: string, workerId: string): string {
  if (!WORKER_ID_PATTERN.test(workerId)) throw new ProtocolError('malformed-message', `invalid worker id ${JSON.stringify(workerId.slice(0, 80))}`);
  return `${kind}.${queue}.${workerId}`;
}

/**
 * Inverse of workerPresenceKey; null for keys that are not presence keys.
 * Inference queues are model tokens (protocol/inference.ts modelToToken).
 */
export function parseWorkerPresenceKey(key: string): { kind: WorkerKind; queue: string; workerId: string } | null {
  const [kind, queue, workerId, ...rest] = key.split('.');
  if ((kind !== 'service' && kind !== 'inference') || queue === undefined || queue === '' || workerId === undefined || !WORKER_ID_PATTERN.test(workerId) || rest.length > 0) {
    return null;
  }
  return { kind, queue, workerId };
}

const ms = z.number().int().min(1).max(7 * 24 * 3_600_000);
const ids = {
  v: z.literal(ACTIVITY_VERSION),
  taskId: z.string().regex(TASK_ID),
  jobId: z.string().min(1).max(200),
  /** A step instance id: a definition's step id, with `.<n>` for map items and loop iterations and `.r<n>` for revision rounds. */
  step: z.string().regex(/^[a-z][a-z0-9.-]{0,127}$/),
  attempt: z.number().int().min(1).max(1_000),
};

/** One task: what a worker pulls from `activity.task.<queue>.<priority>` (its Nats-Msg-Id is the task id). */
export const activityTaskSchema = z
  .object({
    ...ids,
    queue: z.string().regex(QUEUE_NAME_PATTERN),
    input: z.unknown(),
    /** The worker must complete within this many ms of its claim. */
    startToCloseMs: ms,
    /** When set, a worker silent (no heartbeat) this long has failed the attempt; heartbeat at a third of it. */
    heartbeatTimeoutMs: ms.nullable(),
    /** When the attempt was enqueued (ms since the epoch). */
    enqueuedAt: z.number().int().nonnegative(),
  })
  .strict();
export type ActivityTask = z.infer<typeof activityTaskSchema>;

const workerIds = { ...ids, workerId: z.string().regex(WORKER_ID_PATTERN) };

export const activityClaimSchema = z.object(workerIds).strict();
export type ActivityClaim = z.infer<typeof activityClaimSchema>;

export const activityHeartbeatSchema = z
  .object({
    ...workerIds,
    /** Anything JSON the worker wants to report (percent done, a stage name); at most 4 KiB. */
    progress: z.unknown().optional(),
  })
  .strict()
  .refine((h) => h.progress === undefined || Buffer.byteLength(JSON.stringify(h.progress), 'utf8') <= ACTIVITY_LIMITS.maxProgressBytes, {
    message: `progress must be at most ${ACTIVITY_LIMITS.maxProgressBytes} bytes of JSON`,
    path: ['progress'],
  });
export type ActivityHeartbeat = z.infer<typeof activityHeartbeatSchema>;

/** How a worker ends a task: its output, or a failure that Loom retries (retryable) or that fails the step (terminal). */
export const activityOutcomeSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), output: z.unknown() }).strict(),
  z.object({ ok: z.literal(false), error: jobErrorSchema.strict(), retryable: z.boolean() }).strict(),
]);
export type ActivityOutcomeMessage = z.infer<typeof activityOutcomeSchema>;

export const activityCompleteSchema = z
  .object({ ...workerIds, outcome: activityOutcomeSchema })
  .strict()
  // The output or error goes into the job's log and its PostgreSQL projection as it is (storable-json.ts: what else went wrong).
  .superRefine((c, ctx) => (c.outcome.ok ? refineStorable(c.outcome.output, ['outcome', 'output'], ctx) : refineStorable(c.outcome.error, ['outcome', 'error'], ctx)));
export type ActivityComplete = z.infer<typeof activityCompleteSchema>;

/**
 * Loom's answer to a claim, heartbeat or completion. `accepted: false` means
 * drop the task: the job was cancelled or ended, the attempt is no longer the
 * current one (it timed out and was retried), or another worker holds it.
 */
export const activityReplySchema = z.object({ v: z.literal(ACTIVITY_VERSION), accepted: z.boolean(), reason: z.string().max(500).nullable() }).strict();
export type ActivityReply = z.infer<typeof activityReplySchema>;

/** Sent on activity.cancel.<queue>: stop `taskId` (its result would be ignored). */
export const activityCancelSchema = z.object({ v: z.literal(ACTIVITY_VERSION), taskId: z.string().regex(TASK_ID), reason: z.string().max(500) }).strict();
export type ActivityCancel = z.infer<typeof activityCancelSchema>;

function sized<T>(body: Uint8Array, schema: z.ZodType<T, z.ZodTypeDef, unknown>, what: string): T {
  if (body.byteLength > ACTIVITY_LIMITS.maxMessageBytes) {
    throw new ProtocolError('malformed-message', `${what}: ${body.byteLength} bytes, more than ${ACTIVITY_LIMITS.maxMessageBytes}`);
  }
  return decodeJson(body, schema, what);
}

/** @throws ProtocolError `malformed-message` naming the field. */
export const decodeActivityTask = (body: Uint8Array): ActivityTask => sized(body, activityTaskSchema, 'activity task');
/** @throws ProtocolError `malformed-message` naming the field. */
export const decodeActivityClaim = (body: Uint8Array): ActivityClaim => sized(body, activityClaimSchema, 'activity claim');
/** @throws ProtocolError `malformed-message` naming the field. */
export const decodeActivityHeartbeat = (body: Uint8Array): ActivityHeartbeat => sized(body, activityHeartbeatSchema, 'activity heartbeat');
/** @throws ProtocolError `malformed-message` naming the field. */
export const decodeActivityComplete = (body: Uint8Array): ActivityComplete => sized(body, activityCompleteSchema, 'activity completion');
/** @throws ProtocolError `malformed-message` naming the field. */
export const decodeActivityReply = (body: Uint8Array): ActivityReply => sized(body, activityReplySchema, 'activity reply');
/** @throws ProtocolError `malformed-message` naming the field. */
export const decodeActivityCancel = (body: Uint8Array): ActivityCancel => sized(body, activityCancelSchema, 'activity cancel');

/** Encodes any activity message (they are plain JSON). */
export function encodeActivity(message: ActivityTask | ActivityClaim | ActivityHeartbeat | ActivityComplete | ActivityReply | ActivityCancel): Uint8Array {
  return encodeJson(message);
}

export function activityReply(accepted: boolean, reason: string | null = null): WireMessage {
  return { headers: {}, body: encodeActivity({ v: ACTIVITY_VERSION, accepted, reason }) };
}
