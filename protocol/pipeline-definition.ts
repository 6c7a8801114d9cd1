/**
 * Pipeline definitions as data: the JSON document a platform registers
 * (PUT /v1/pipelines/:kind) and a job records when it starts. This module is
 * the contract: the TypeScript types, the published JSON Schema
 * (`PIPELINE_DEFINITION_JSON_SCHEMA`, served at /v1/pipelines/schema.json)
 * and `validatePipelineDefinition`, which checks a whole definition (the
 * schema with ajv, then the graph rules in pipeline-definition-rules.ts) and
 * names every fault by a JSON-pointer path. The validator lives here, not in
 * actors/, because the registry (src/) and the engine (actors/) both need it
 * and imports run one way; it needs only a validator (ajv) and a template
 * parser (mustache), both pure. Layout and semantics: PROTOCOL.md
 * ("Pipeline definitions").
 */
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ErrorObject } from 'ajv';
import { PIPELINE_DEFINITION_JSON_SCHEMA } from './pipeline-definition-schema.ts';
import { checkDefinitionRules } from './pipeline-definition-rules.ts';

export { PIPELINE_DEFINITION_JSON_SCHEMA };

/** Step ids: lowercase, digits, '-'; the engine appends `.<n>` / `.r<n>` for loop, map and revision instances. */
export const STEP_ID_PATTERN = /^[a-z][a-z0-9-]{0,63}$/;
/** Service queues: one subject token. */
export const SERVICE_QUEUE_PATTERN = /^[a-z][a-z0-9-]{0,63}$/;
/** Largest definition a job may record, as UTF-8 JSON. */
export const MAX_PIPELINE_DEFINITION_BYTES = 256 * 1024;
/** Most steps in a definition, nested loop and map steps included. */
export const MAX_PIPELINE_STEPS = 200;
/** Most iterations a loop may declare. */
export const MAX_LOOP_ITERATIONS = 20;
/** Most items one map step fans out to; a longer array fails the map step. */
export const MAX_MAP_ITEMS = 500;
/**
 * Most step instances one job records (map items, loop iterations and revision rounds each count): the job fails with
 * `too-many-steps` rather than start one more. 200 steps of 500 items each would otherwise be 100,000 per round.
 */
export const MAX_JOB_STEP_INSTANCES = 10_000;

export const STEP_TYPES = ['llm', 'service', 'approval', 'document-write', 'artifact', 'object-read', 'emit', 'map', 'choice', 'loop'] as const;
export type StepType = (typeof STEP_TYPES)[number];

/** A JSON Schema (draft 2020-12 subset ajv compiles). */
export type JsonSchema = { readonly [key: string]: unknown };

/**
 * A value whose strings are Mustache templates (HTML escaping off). A string
 * that is exactly one tag (`"{{steps.plan.output}}"`) yields the referenced
 * value itself, not its text.
 */
export type TemplateMapping = unknown;

/** Per-step retry policy; `jitter`: "equal" draws between half and all of the delay, "full" between 0 and all, "none" waits exactly. */
export interface RetryPolicyDefinition {
  readonly attempts?: number;
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly jitter?: 'equal' | 'full' | 'none';
}

/** What happens when a step fails for good: the job fails, the step is skipped (dependents run), or the flow jumps to a handler step. */
export type OnFailure = 'fail' | 'skip' | { readonly goto: string };

/**
 * A condition on data, never code. `path` is dotted (`steps.test.output.passed`,
 * `input.mode`, numeric segments index arrays); roots: input, steps, item,
 * index, revision, failure, job.
 */
export type Condition =
  | { readonly path: string; readonly equals: unknown }
  | { readonly path: string; readonly exists: boolean }
  | { readonly path: string; readonly in: readonly unknown[] }
  | { readonly not: Condition }
  | { readonly all: readonly Condition[] }
  | { readonly any: readonly Condition[] };

interface StepBase {
  readonly id: string;
  readonly description?: string;
  /** Steps that must be done (succeeded or skipped) first. */
  readonly after?: readonly string[];
  readonly retry?: RetryPolicyDefinition;
  /** Deadline of one attempt. */
  readonly timeoutMs?: number;
  readonly onFailure?: OnFailure;
  /**
   * Run the step only when this holds (read once its dependencies are done;
   * in a map's `step` or `then`, per item when the map starts); otherwise it
   * is skipped as a branch not taken, like a choice's, and its dependents run
   * unless everything they wait on was skipped.
   */
  readonly when?: Condition;
}

export interface LlmStep extends StepBase {
  readonly type: 'llm';
  readonly prompt: { readonly system?: string; readonly user: string };
  readonly model?: string;
  /** A number, or a lone tag (`"{{input.maxTokensPerSection}}"`) that must name a whole number in range when the step runs. */
  readonly maxTokens?: number | string;
  readonly temperature?: number;
  /**
   * The answer must be JSON valid against this schema; an invalid answer is
   * a failed attempt. Its strings are templates too (`"minItems":
   * "{{input.sections}}"`): a schema with tags is compiled when the step runs.
   */
  readonly output?: JsonSchema;
  /**
   * The answer must cite the elements of this array (a path such as
   * `steps.answers.output`; a whole number n stands for 1..n) as [1], [2], ...:
   * one citation at least, none past the last element, or it is an invalid
   * answer and retried. The output is then `{ text, cited }` (cited: sorted,
   * unique). Not with `output`.
   */
  readonly cite?: string;
}

export interface ServiceStep extends StepBase {
  readonly type: 'service';
  readonly queue: string;
  readonly input?: TemplateMapping;
  readonly heartbeatTimeoutMs?: number;
  readonly startToCloseMs?: number;
}

export interface ApprovalStep extends StepBase {
  readonly type: 'approval';
  /** A rejection with a comment re-enters the pipeline at `reenterAt` (an ancestor step) instead of rejecting the job. */
  readonly revision?: { readonly reenterAt: string };
}

export interface DocumentWriteStep extends StepBase {
  readonly type: 'document-write';
  /** Template; the job's target document when absent. */
  readonly docId?: string;
  /** Y.Text root name, a template (`{{input.targetRoot}}`) that must render without spaces; `content` when absent. */
  readonly root?: string;
  /** Template rendering to `text` (Y.Text), `xml` (paragraphs, for TipTap) or nothing (by what the root holds, Y.Text when new). */
  readonly rootType?: string;
  readonly text: string;
}

export interface ArtifactStep extends StepBase {
  readonly type: 'artifact';
  readonly name: string;
  readonly contentType?: string;
  /** A template string, or a mapping written as JSON. */
  readonly body: TemplateMapping;
}

export interface ObjectReadStep extends StepBase {
  readonly type: 'object-read';
  /** Template of the object key. */
  readonly key: string;
  readonly maxBytes?: number;
}

export interface EmitStep extends StepBase {
  readonly type: 'emit';
  /** Outbound event type (protocol/outbound-events.ts OUTBOUND_EVENT_TYPE). */
  readonly event: string;
  readonly data?: TemplateMapping;
}

/** A sub-step of a map: any activity step, without id or dependencies. */
export type MapSubStep =
  | Omit<LlmStep, 'id' | 'after' | 'onFailure'>
  | Omit<ServiceStep, 'id' | 'after' | 'onFailure'>
  | Omit<DocumentWriteStep, 'id' | 'after' | 'onFailure'>
  | Omit<ArtifactStep, 'id' | 'after' | 'onFailure'>
  | Omit<ObjectReadStep, 'id' | 'after' | 'onFailure'>
  | Omit<EmitStep, 'id' | 'after' | 'onFailure'>;

export interface MapStep extends StepBase {
  readonly type: 'map';
  /** Reference to an array in an earlier output: `steps.plan.output.items` (or `input.languages`); a whole number n stands for the items 1..n. */
  readonly over: string;
  readonly step: MapSubStep;
  /**
   * A second fan-out level: `step` runs once for each item and each element
   * of this array (`input.languages`), seeing it as `key` (and `keyIndex`);
   * the item's `output` is then an object keyed by `key`.
   */
  readonly by?: string;
  /**
   * A sub-step run for each item once the item's `step` succeeded, seeing its
   * `output`, one at a time in item order (item n's after item n-1's): live
   * document writes arrive top to bottom while the items run in parallel.
   */
  readonly then?: MapSubStep;
  readonly maxParallel?: number;
  /** What each item contributes to the map's output, a mapping that also sees `output` (the item step's output); absent: the output itself. */
  readonly collect?: TemplateMapping;
}

export interface ChoiceStep extends StepBase {
  readonly type: 'choice';
  /** The first branch whose `when` holds is taken; steps named only by branches not taken are skipped. */
  readonly branches: readonly { readonly when: Condition; readonly next: readonly string[] }[];
  readonly default?: readonly string[];
}

/** Steps allowed inside a loop's group. */
export type LoopMemberStep = LlmStep | ServiceStep | DocumentWriteStep | ArtifactStep | ObjectReadStep | EmitStep;

export interface LoopStep extends StepBase {
  readonly type: 'loop';
  /** The group run once per iteration; `after` inside it names other members. */
  readonly steps: readonly LoopMemberStep[];
  /** Checked after each iteration on the group's outputs; absent: run maxIterations times. */
  readonly until?: Condition;
  readonly maxIterations: number;
}

export type StepDefinition = LlmStep | ServiceStep | ApprovalStep | DocumentWriteStep | ArtifactStep | ObjectReadStep | EmitStep | MapStep | ChoiceStep | LoopStep;

/** Settings every step takes unless it says otherwise. */
export interface PipelineDefaults {
  readonly model?: string;
  readonly maxTokens?: number;
  readonly temperature?: number;
  readonly retry?: RetryPolicyDefinition;
  readonly timeoutMs?: number;
}

export interface PipelineDefinition {
  readonly kind: string;
  readonly description?: string;
  /** JSON Schema of the job's input; defaults it declares are applied. */
  readonly input: JsonSchema;
  readonly defaults?: PipelineDefaults;
  readonly steps: readonly StepDefinition[];
  /** The job's output, a mapping over the context; absent: every top-level step's output by id. */
  readonly result?: TemplateMapping;
}

/** One fault of a definition: where (JSON pointer into the document) and what. */
export interface DefinitionError {
  readonly path: string;
  readonly message: string;
}

export type DefinitionValidation = { readonly ok: true; readonly definition: PipelineDefinition } | { readonly ok: false; readonly errors: readonly DefinitionError[] };

let compiled: ReturnType<Ajv2020['compile']> | undefined;

function schemaValidator(): ReturnType<Ajv2020['compile']> {
  compiled ??= new Ajv2020({ allErrors: true, discriminator: true }).compile(PIPELINE_DEFINITION_JSON_SCHEMA);
  return compiled;
}

function ajvError(e: ErrorObject): DefinitionError {
  if (e.keyword === 'additionalProperties') {
    const extra = (e.params as { additionalProperty?: string }).additionalProperty ?? '';
    return { path: `${e.instancePath}/${extra}`, message: `unknown field ${JSON.stringify(extra)}` };
  }
  if (e.keyword === 'discriminator') return { path: `${e.instancePath}/type`, message: `step type must be one of ${STEP_TYPES.join(', ')}` };
  return { path: e.instancePath, message: e.message ?? 'is invalid' };
}

/**
 * Checks a whole definition: its shape against the published JSON Schema,
 * then the rules a schema cannot say (unique ids, references that resolve,
 * no cycles outside loops, templates that only read preceding steps,
 * nested JSON Schemas that compile).
 * @example validatePipelineDefinition(JSON.parse(body)) // { ok: false, errors: [{ path: '/steps/3/after/0', message: 'unknown step "bulid"' }] }
 */
export function validatePipelineDefinition(raw: unknown): DefinitionValidation {
  const bytes = Buffer.byteLength(JSON.stringify(raw) ?? '', 'utf8');
  if (bytes > MAX_PIPELINE_DEFINITION_BYTES) {
    return { ok: false, errors: [{ path: '', message: `definition is ${bytes} bytes as JSON, over ${MAX_PIPELINE_DEFINITION_BYTES}` }] };
  }
  const validate = schemaValidator();
  if (!validate(raw)) {
    const seen = new Set<string>();
    const errors = (validate.errors ?? []).map(ajvError).filter((e) => {
      const key = `${e.path} ${e.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    return { ok: false, errors: errors.slice(0, 50) };
  }
  const definition = raw as PipelineDefinition;
  const errors = checkDefinitionRules(definition);
  return errors.length === 0 ? { ok: true, definition } : { ok: false, errors: errors.slice(0, 50) };
}
