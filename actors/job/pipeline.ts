/**
 * The engine's view of a pipeline: it names its job kind, validates its
 * input with a zod schema, and lists its steps as a function of the job's
 * state (the input and what its steps did so far). That function must be pure
 * and monotonic (a step it returned once it returns again, unchanged), so a
 * replay of the log rebuilds the same DAG; fan-outs whose width depends on a
 * model's answer (sections of an outline) simply appear once that answer is
 * known. Each step is one activity; the engine (engine.ts) starts ready
 * steps, bounds their parallelism, retries them and records every
 * transition. Pipeline definitions (protocol/pipeline-definition.ts) compile
 * into this shape (definitions/compile.ts); a built-in is a JSON definition
 * in pipelines/ plus one line in pipelines/catalog.ts.
 */
import type { z } from 'zod';
import type { ActivityType } from '../../protocol/job-events.ts';
import type { JobState } from './state.ts';

/** One chat message of an inference request. */
export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

/** A model call through the inference queue. */
export interface InferenceActivity {
  readonly type: 'inference';
  readonly messages: readonly ChatMessage[];
  readonly maxTokens?: number;
  readonly temperature?: number;
  readonly responseFormat?: 'text' | 'json';
  /** Defaults to the job's model. */
  readonly model?: string;
  /**
   * Turns the model's text into the step's output. Throwing (e.g. JSON that
   * fails its schema) makes the attempt fail and be retried: an invalid
   * structured output is never a result.
   */
  readonly parse: (text: string) => unknown;
}

/**
 * A pure, synchronous function of earlier outputs, run on the spot: a
 * built-in tool, a definition's `emit` (its output is the outbound event
 * `{ type, data }`) or `choice` (its output names the branch taken). Its
 * failure is terminal (a retry would fail the same way).
 */
export interface ToolActivity {
  readonly type: 'tool' | 'emit' | 'choice';
  readonly run: () => unknown;
}

/** A container (`map`, `loop`): it runs while the instances it adds to the pipeline run, and ends as its StepSpec.settle says. */
export interface ContainerActivity {
  readonly type: 'map' | 'loop';
}

/** Writes one object, exactly once, under artifactKey(jobId, step, name). */
export interface ArtifactActivity {
  readonly type: 'artifact';
  readonly name: string;
  readonly contentType: string;
  readonly body: string;
}

/**
 * Writes text into a live collaborative document as the job's own Yjs
 * client. `offset` is how many characters the job's earlier document-write
 * steps wrote: the writer resumes from the document's state, so a re-run
 * never writes a character twice.
 */
export interface DocumentWriteActivity {
  readonly type: 'document-write';
  readonly docId: string;
  /** Name of the root (Y.Text, or an XML root of paragraphs). */
  readonly root: string;
  /** How to write the root (actors/job/document-writer.ts); absent: by its content, Y.Text when new. */
  readonly rootType?: 'text' | 'xml';
  readonly text: string;
  readonly offset: number;
}

/**
 * Reads an object (an uploaded input) as UTF-8 text, at most `maxBytes` of
 * it. A missing object fails the step for good: the job fails clearly.
 */
export interface ObjectReadActivity {
  readonly type: 'object-read';
  readonly key: string;
  readonly maxBytes: number;
}

/** Waits, durably, for a person to approve or reject (POST /v1/jobs/:id/approve). */
export interface ApprovalActivity {
  readonly type: 'approval';
}

/**
 * A task for an outside worker: published on the JetStream work queue
 * `activity.<queue>.<priority>` (protocol/activity.ts); any process with a
 * NATS client claims it, may heartbeat, and completes or fails it. The
 * start-to-close clock runs from the claim; a missed heartbeat (when
 * `heartbeatTimeoutMs` is set) fails the attempt so a retry reaches another worker.
 */
export interface ServiceActivity {
  readonly type: 'service';
  readonly queue: string;
  readonly input: unknown;
  readonly startToCloseMs: number;
  readonly heartbeatTimeoutMs: number | null;
}

export type Activity =
  | InferenceActivity
  | ToolActivity
  | ArtifactActivity
  | DocumentWriteActivity
  | ApprovalActivity
  | ObjectReadActivity
  | ServiceActivity
  | ContainerActivity;

/** What step functions see. */
export interface PipelineContext<I> {
  readonly jobId: string;
  readonly input: I;
  readonly targetDocId: string | null;
  /** The job's default model. */
  readonly model: string;
  /** Whether step `id` has succeeded. */
  has(id: string): boolean;
  /**
   * The output of a succeeded step, checked against `schema`.
   * @throws Error when the step has not succeeded or its output does not match.
   */
  output<T>(id: string, schema: z.ZodType<T, z.ZodTypeDef, unknown>): T;
  /** The whole folded state, for pipelines whose shape depends on more than outputs (skips, failures, revisions). */
  readonly state: JobState;
}

/** A step's retry policy, when it has its own. */
export interface StepRetryPolicy {
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly jitter: 'equal' | 'full' | 'none';
}

/** What the engine does when a step fails for good: fail the job, skip the step, go to a handler step, or let its container (map, loop) decide. */
export type StepOnFailure = 'fail' | 'skip' | { readonly goto: string } | 'container';

/** How a container step ends: null while its instances are not all done. */
export type ContainerSettlement = { readonly ok: true; readonly output: unknown } | { readonly ok: false; readonly code: string; readonly message: string } | null;

export interface StepSpec<I> {
  /** Unique within the job: lowercase, digits, '-' (it appears in keys and request ids). */
  readonly id: string;
  /** Steps that must have succeeded before this one starts. */
  readonly after: readonly string[];
  readonly activity: ActivityType;
  /** Builds the activity once every `after` step is done. Must be deterministic. */
  readonly build: (ctx: PipelineContext<I>) => Activity;
  /** Its own retry policy; absent: the job's. */
  readonly retry?: StepRetryPolicy;
  /** Deadline of one attempt; absent: the job's stepTimeoutMs. */
  readonly timeoutMs?: number;
  /** Absent: 'fail'. */
  readonly onFailure?: StepOnFailure;
  /** Record the step as skipped instead of running it, once its dependencies are done. */
  readonly skip?: 'branch-not-taken' | 'unreachable';
  /** An onFailure target: it starts only once `reached`; when the job has nothing else left, it is skipped as not reached. */
  readonly handler?: { readonly reached: boolean };
  /** Instances sharing a group (a map's items) run at most `maxParallel` at a time. */
  readonly group?: { readonly id: string; readonly maxParallel: number };
  /**
   * The spec was fixed when its container started (a map's items and their `then`): when it ends at once, no other spec
   * of the plan changes, so the planner goes on starting steps instead of planning again (a plan per instant item was
   * quadratic in the map's width).
   */
  readonly fixed?: true;
  /** For containers: how the step ends given the state. */
  readonly settle?: (ctx: PipelineContext<I>) => ContainerSettlement;
  /** For approvals with a revision: the step a rejection with a comment re-enters at (the next round's instances replace it and what follows it). */
  readonly revision?: { readonly reenterAt: string };
}

export interface Pipeline<I> {
  /** The job kind, e.g. `document.generate`. */
  readonly kind: string;
  readonly description: string;
  readonly input: z.ZodType<I, z.ZodTypeDef, unknown>;
  /** Every step knowable now. Pure and monotonic (see the file header). */
  steps(ctx: PipelineContext<I>): readonly StepSpec<I>[];
  /** The job's output once every step has succeeded. */
  result(ctx: PipelineContext<I>): unknown;
}

/** A pipeline with its input type erased, as the catalog holds it. */
export type AnyPipeline = Pipeline<unknown>;

/** Declares a pipeline; the identity at run time, a type check at compile time. */
export function definePipeline<I>(pipeline: Pipeline<I>): AnyPipeline {
  return pipeline as unknown as AnyPipeline;
}

/** Step ids of a definition (instances add suffixes: see protocol/job-events.ts). */
export { STEP_ID_PATTERN } from '../../protocol/pipeline-definition.ts';

/** A helper for step specs: `step('outline', [], 'inference', (ctx) => ...)`. */
export function step<I>(id: string, after: readonly string[], activity: ActivityType, build: (ctx: PipelineContext<I>) => Activity): StepSpec<I> {
  return { id, after, activity, build };
}
