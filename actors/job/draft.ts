/**
 * The draft the engine's decisions work on, and the lookups they share. A
 * Draft collects the events to append and the effects to perform; events are
 * folded into its state as they are emitted, so each decision sees the
 * consequences of the previous one. The lookups find, for a draft's state,
 * the job's pipeline, a step's spec and activity, and the context step
 * functions see.
 */
import { MAX_STEP_OUTPUT_BYTES, type JobEvent } from '../../protocol/job-events.ts';
import type { PriceTable } from '../ports/index.ts';
import type { JobEffect } from './effects.ts';
import type { Activity, AnyPipeline, PipelineContext, StepSpec } from './pipeline.ts';
import { withBoundedError } from './bounded-error.ts';
import { compiledPipeline } from './definitions/compile.ts';
import { evolve, type JobState } from './state.ts';

/** What decisions depend on besides the state: the time, a random source (jitter), pipelines and prices. */
export interface EngineEnv {
  readonly now: number;
  /** Draws in [0, 1). */
  readonly random: () => number;
  readonly pipelines: ReadonlyMap<string, AnyPipeline>;
  readonly prices: PriceTable;
  /** Largest output a step or the job may record (output-limit.ts: under one reply); MAX_STEP_OUTPUT_BYTES when absent. */
  readonly maxOutputBytes?: number;
}

/** Events to append (in order) and effects to perform once they are durable. */
export class Draft {
  readonly events: JobEvent[] = [];
  readonly effects: JobEffect[] = [];
  constructor(
    public state: JobState,
    readonly env: EngineEnv,
  ) {}

  emit(event: JobEvent): void {
    // Every event is one the log's decoders accept: an over-long error text would make the job unreplayable.
    const bounded = withBoundedError(event);
    this.state = evolve(this.state, bounded, this.state.lastSeq);
    this.events.push(bounded);
  }

  effect(effect: JobEffect): void {
    this.effects.push(effect);
  }

  get now(): number {
    return this.env.now;
  }
}

const parsedInputs = new WeakMap<object, unknown>();

/**
 * The context step functions see for the current state.
 * @throws Error when the job does not exist.
 */
export function contextFor(state: JobState, pipeline: AnyPipeline): PipelineContext<unknown> {
  const created = state.created;
  if (created === null) throw new Error(`job ${state.id} does not exist`);
  let input = parsedInputs.get(created);
  if (input === undefined) {
    // Validated at creation; parsing again applies the schema's defaults the same way on every replay.
    input = pipeline.input.parse(created.input);
    parsedInputs.set(created, input);
  }
  return {
    jobId: state.id,
    input,
    targetDocId: created.targetDocId,
    model: created.model,
    state,
    has: (id) => state.steps.get(id)?.status === 'succeeded',
    output: (id, schema) => {
      const s = state.steps.get(id);
      if (s === undefined || s.status !== 'succeeded') throw new Error(`step ${id} has not succeeded`);
      return schema.parse(s.output);
    },
  };
}

/** The pipeline a job runs: the definition it recorded at creation, else the catalog's pipeline of its kind. */
export function pipelineOf(state: JobState, env: EngineEnv): AnyPipeline {
  const recorded = state.created?.pipeline;
  if (recorded !== undefined) return compiledPipeline(recorded.definition);
  const kind = state.created?.kind ?? '';
  const pipeline = env.pipelines.get(kind);
  if (pipeline === undefined) throw new Error(`job ${state.id} has kind ${kind}, which no pipeline serves`);
  return pipeline;
}

export function specOf(state: JobState, pipeline: AnyPipeline, stepId: string): StepSpec<unknown> {
  const spec = pipeline.steps(contextFor(state, pipeline)).find((s) => s.id === stepId);
  if (spec === undefined) throw new Error(`pipeline ${pipeline.kind} has no step ${stepId}`);
  return spec;
}

/**
 * Builds a step's activity for the draft's state, from `known` when the caller has the step's spec.
 * @throws Error when the pipeline cannot.
 */
export function activityOf(d: Draft, stepId: string, known?: StepSpec<unknown>): Activity {
  const pipeline = pipelineOf(d.state, d.env);
  const spec = known ?? specOf(d.state, pipeline, stepId);
  const activity = spec.build(contextFor(d.state, pipeline));
  if (activity.type !== spec.activity) throw new Error(`step ${stepId} declared ${spec.activity} but built ${activity.type}`);
  return activity;
}

/**
 * The policy the job recorded at creation.
 * @throws Error when the job does not exist.
 */
export function requirePolicy(state: JobState) {
  if (state.created === null) throw new Error(`job ${state.id} does not exist`);
  return state.created.policy;
}

/** The largest output a step or the job may record. */
export function outputLimit(d: Draft): number {
  return d.env.maxOutputBytes ?? MAX_STEP_OUTPUT_BYTES;
}
