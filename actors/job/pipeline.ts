/**
 * Pipelines as data: a pipeline names its job kind, validates its input with
 * a zod schema, and lists its steps as a function of the input and the
 * outputs of the steps that already succeeded. That function must be pure
 * and monotonic (a step it returned once it returns again, unchanged), so a
 * replay of the log rebuilds the same DAG; fan-outs whose width depends on a
 * model's answer (sections of an outline) simply appear once that answer is
 * known. Each step is one activity; the engine (engine.ts) starts ready
 * steps, bounds their parallelism, retries them and records every
 * transition. Adding a pipeline is one file in pipelines/ plus one line in
 * pipelines/catalog.ts.
 */
import type { z } from 'zod';
import type { ActivityType } from '../../protocol/job-events.ts';

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

/** A built-in tool: a pure, synchronous function of earlier outputs. Its failure fails the job (a retry would fail the same way). */
export interface ToolActivity {
  readonly type: 'tool';
  readonly run: () => unknown;
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
  /** Name of the Y.Text root. */
  readonly root: string;
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
  | ServiceActivity;

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
}

export interface StepSpec<I> {
  /** Unique within the job: lowercase, digits, '-' (it appears in keys and request ids). */
  readonly id: string;
  /** Steps that must have succeeded before this one starts. */
  readonly after: readonly string[];
  readonly activity: ActivityType;
  /** Builds the activity once every `after` step has succeeded. Must be deterministic. */
  readonly build: (ctx: PipelineContext<I>) => Activity;
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

/** Step ids: what StepSpec.id allows. */
export const STEP_ID_PATTERN = /^[a-z][a-z0-9-]{0,63}$/;

/** A helper for step specs: `step('outline', [], 'inference', (ctx) => ...)`. */
export function step<I>(id: string, after: readonly string[], activity: ActivityType, build: (ctx: PipelineContext<I>) => Activity): StepSpec<I> {
  return { id, after, activity, build };
}
