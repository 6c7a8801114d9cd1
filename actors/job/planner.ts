/**
 * The scheduler at the heart of the engine, pure: given a job's state and
 * its pipeline, it starts every step whose dependencies succeeded (bounded
 * by the job's parallelism; approvals and tools take no slot), runs tool
 * steps on the spot, finishes the job when every step succeeded, and turns
 * failed attempts into retries (backoff with jitter) or a failed job. It
 * works on a Draft: events are folded into the draft's state as they are
 * emitted, so each decision sees the consequences of the previous one.
 */
import { MAX_JOB_OUTPUT_BYTES, MAX_STEP_OUTPUT_BYTES, type ArtifactRef, type JobError, type JobEvent, type Usage } from '../../protocol/job-events.ts';
import { MAX_JOB_STEP_INSTANCES } from '../../protocol/pipeline-definition.ts';
import { requestIdFor, type PriceTable } from '../ports/index.ts';
import type { JobEffect, InferenceCall, ServiceTask } from './effects.ts';
import type { Activity, AnyPipeline, PipelineContext, StepSpec } from './pipeline.ts';
import { withBoundedError } from './bounded-error.ts';
import { outputTooLargeMessage } from './output-limit.ts';
import { nextRetryAt } from './retry-policy.ts';
import { compiledPipeline } from './definitions/compile.ts';
import { evolve, isBusy, isTerminal, outputBytes, type JobState, type StepState } from './state.ts';

export type { PriceTable };

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

export { priceUsage, requestIdFor } from '../ports/index.ts';

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

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Stops everything in flight: cancels model calls, aborts local activities. Call before the terminal event. */
export function stopInFlight(d: Draft): void {
  for (const s of d.state.steps.values()) stopStep(d, s);
}

/** Stops one step's work if it is running (containers have none of their own). */
export function stopStep(d: Draft, s: StepState): void {
  if (s.status !== 'running') return;
  if (s.activity === 'inference' && s.requestId !== null) d.effect({ type: 'cancel-inference', step: s.id, requestId: s.requestId });
  else if (s.activity === 'artifact' || s.activity === 'document-write' || s.activity === 'object-read') d.effect({ type: 'abort-step', step: s.id });
  else if (s.activity === 'service') cancelService(d, s);
}

/** Tells the workers of a running service step to stop (nothing when its activity can no longer be built: no task was ever published for it). */
function cancelService(d: Draft, s: StepState): void {
  let activity: Activity;
  try {
    activity = activityOf(d, s.id);
  } catch {
    return;
  }
  if (activity.type !== 'service') return;
  d.effect({ type: 'cancel-service', step: s.id, taskId: requestIdFor(d.state.id, s.id, s.attempt), queue: activity.queue });
}

/** The service task of an attempt, rebuilt the same way on every replay (same task id: the queue deduplicates a republish). */
export function serviceTask(d: Draft, stepId: string, attempt: number, activity: Activity & { type: 'service' }): ServiceTask {
  const created = d.state.created;
  if (created === null) throw new Error(`job ${d.state.id} does not exist`);
  return {
    taskId: requestIdFor(d.state.id, stepId, attempt),
    queue: activity.queue,
    input: activity.input,
    startToCloseMs: activity.startToCloseMs,
    heartbeatTimeoutMs: activity.heartbeatTimeoutMs,
    priority: created.priority,
    meta: { jobId: d.state.id, step: stepId, attempt },
  };
}

/** Ends the job as failed (the caller has recorded the step's last failure). */
export function failJob(d: Draft, step: string | null, error: JobError, attempts: number): void {
  stopInFlight(d);
  d.emit({ type: 'job-failed', v: 1, at: d.now, step, error, attempts });
}

/**
 * Records the attempt's success; an output too large for one log event instead fails the step for good (its onFailure
 * applies). Appending such an event failed, so the step never ended and the job stalled, on every host that resumed it.
 */
export function succeedStep(d: Draft, s: StepState, output: unknown, usage: Usage | null, artifact: ArtifactRef | null): void {
  const bytes = outputBytes(output);
  const limit = outputLimit(d);
  if (bytes > limit) {
    attemptFailed(d, s, { code: 'output-too-large', message: outputTooLargeMessage(`step ${s.id}: its output`, bytes, limit) }, usage, true);
    return;
  }
  if (d.state.outputBytes + bytes > MAX_JOB_OUTPUT_BYTES) {
    const message = `step ${s.id}: its ${bytes}-byte output would bring the job's outputs to ${d.state.outputBytes + bytes} bytes of JSON, over ${MAX_JOB_OUTPUT_BYTES}`;
    attemptFailed(d, s, { code: 'job-outputs-too-large', message }, usage, true);
    return;
  }
  d.emit({ type: 'step-succeeded', v: 1, at: d.now, step: s.id, attempt: s.attempt, output: output ?? null, usage, artifact });
}

function outputLimit(d: Draft): number {
  return d.env.maxOutputBytes ?? MAX_STEP_OUTPUT_BYTES;
}

/** The step's spec, or null when the pipeline no longer lists it (a superseded instance) or cannot plan. */
function currentSpec(d: Draft, stepId: string): StepSpec<unknown> | null {
  try {
    return specOf(d.state, pipelineOf(d.state, d.env), stepId);
  } catch {
    // Absent from the plan: the job's policy and 'fail' apply, as for steps of built-in pipelines.
    return null;
  }
}

/** Records a failed attempt, then schedules the retry or applies the step's onFailure (fail the job by default). */
export function attemptFailed(d: Draft, s: StepState, error: JobError, usage: Usage | null, terminal: boolean): void {
  const spec = currentSpec(d, s.id);
  const policy = spec?.retry ?? requirePolicy(d.state);
  const retryAt = nextRetryAt(s.attempt, d.now, policy, d.env.random(), terminal);
  d.emit({ type: 'step-attempt-failed', v: 1, at: d.now, step: s.id, attempt: s.attempt, error, usage, retryAt });
  if (retryAt !== null) {
    d.effect({ type: 'arm-timer', timer: 'retry', step: s.id, attempt: s.attempt, at: retryAt });
    return;
  }
  const onFailure = spec?.onFailure ?? 'fail';
  if (onFailure === 'skip') {
    d.emit({ type: 'step-skipped', v: 1, at: d.now, step: s.id, activity: s.activity, reason: 'failed' });
    return;
  }
  if (onFailure === 'container') return; // the map or loop it belongs to settles as failed
  if (typeof onFailure === 'object') {
    d.emit({ type: 'step-skipped', v: 1, at: d.now, step: s.id, activity: s.activity, reason: 'diverted' });
    return;
  }
  const why = terminal ? 'a terminal error' : `${s.attempt} attempt${s.attempt === 1 ? '' : 's'}`;
  failJob(d, s.id, { code: error.code, message: `step ${s.id} failed after ${why}: ${error.message}` }, s.attempt);
}

function requirePolicy(state: JobState) {
  if (state.created === null) throw new Error(`job ${state.id} does not exist`);
  return state.created.policy;
}

/** The inference call of an attempt, rebuilt the same way on every replay. */
export function inferenceCall(d: Draft, stepId: string, attempt: number, activity: Activity & { type: 'inference' }): InferenceCall {
  const created = d.state.created;
  if (created === null) throw new Error(`job ${d.state.id} does not exist`);
  return {
    requestId: requestIdFor(d.state.id, stepId, attempt),
    model: activity.model ?? created.model,
    messages: activity.messages,
    ...(activity.maxTokens === undefined ? {} : { maxTokens: activity.maxTokens }),
    ...(activity.temperature === undefined ? {} : { temperature: activity.temperature }),
    ...(activity.responseFormat === undefined ? {} : { responseFormat: activity.responseFormat }),
    priority: created.priority,
    meta: { jobId: d.state.id, step: stepId, attempt },
  };
}

/** The effects that (re)run an attempt of a started step whose work happens elsewhere. */
export function runEffects(d: Draft, s: StepState, activity: Activity): void {
  switch (activity.type) {
    case 'inference':
      d.effect({ type: 'submit-inference', step: s.id, attempt: s.attempt, call: inferenceCall(d, s.id, s.attempt, activity) });
      break;
    case 'artifact':
      d.effect({ type: 'put-artifact', step: s.id, attempt: s.attempt, name: activity.name, contentType: activity.contentType, body: activity.body });
      break;
    case 'document-write':
      d.effect({
        type: 'write-document',
        step: s.id,
        attempt: s.attempt,
        docId: activity.docId,
        root: activity.root,
        ...(activity.rootType === undefined ? {} : { rootType: activity.rootType }),
        text: activity.text,
        offset: activity.offset,
      });
      break;
    case 'object-read':
      d.effect({ type: 'read-object', step: s.id, attempt: s.attempt, key: activity.key, maxBytes: activity.maxBytes });
      break;
    case 'service':
      // No step deadline: the start-to-close and heartbeat clocks run from a worker's claim (the actor's shell keeps them).
      d.effect({ type: 'run-service', step: s.id, attempt: s.attempt, task: serviceTask(d, s.id, s.attempt, activity) });
      return;
    case 'tool':
    case 'emit':
    case 'choice':
    case 'map':
    case 'loop':
    case 'approval':
      return;
    default: {
      const never: never = activity;
      throw new Error(`unhandled activity ${JSON.stringify(never)}`);
    }
  }
  if (s.deadlineAt !== null) d.effect({ type: 'arm-timer', timer: 'timeout', step: s.id, attempt: s.attempt, at: s.deadlineAt });
}

/** Starts attempt `attempt` of a step. Tools run (and finish) right here. */
/**
 * Starts attempt `attempt` of a step. `known` is the step's spec when the
 * caller planned from it: the steps started by one decision then share one
 * plan instead of each working the pipeline's steps out again (a spec does
 * not change when other steps start).
 */
export function startStep(d: Draft, stepId: string, attempt: number, known?: StepSpec<unknown>): void {
  let activity: Activity;
  try {
    activity = activityOf(d, stepId, known);
  } catch (err) {
    failJob(d, stepId, { code: 'pipeline-error', message: `step ${stepId} could not be built: ${describe(err)}` }, attempt);
    return;
  }
  const policy = requirePolicy(d.state);
  const timeoutMs = (known ?? currentSpec(d, stepId))?.timeoutMs ?? policy.stepTimeoutMs;
  // A service task may wait for a worker as long as it takes (the job shows waiting-for-worker); its clocks start at the claim.
  // Containers wait for their instances, which have deadlines of their own.
  const timed = !UNTIMED.has(activity.type);
  d.emit({
    type: 'step-started',
    v: 1,
    at: d.now,
    step: stepId,
    activity: activity.type,
    attempt,
    requestId: activity.type === 'inference' ? requestIdFor(d.state.id, stepId, attempt) : null,
    deadlineAt: timed ? d.now + timeoutMs : null,
  });
  if (activity.type === 'tool' || activity.type === 'emit' || activity.type === 'choice') {
    let output: unknown;
    try {
      output = activity.run();
    } catch (err) {
      const s = d.state.steps.get(stepId);
      if (s !== undefined) attemptFailed(d, s, { code: 'tool-failed', message: describe(err) }, null, true);
      return;
    }
    const s = d.state.steps.get(stepId);
    if (s !== undefined) succeedStep(d, s, output, null, null);
    return;
  }
  const s = d.state.steps.get(stepId);
  if (s !== undefined) runEffects(d, s, activity);
}

const INSTANT: ReadonlySet<string> = new Set(['tool', 'emit', 'choice']);
const CONTAINERS: ReadonlySet<string> = new Set(['map', 'loop']);
const UNTIMED: ReadonlySet<string> = new Set(['tool', 'emit', 'choice', 'approval', 'service', 'map', 'loop']);
/** Activities that hold no parallelism slot: instant ones, people, and containers (their instances hold slots). */
const SLOTLESS: ReadonlySet<string> = new Set(['tool', 'emit', 'choice', 'approval', 'map', 'loop']);

/** Done for its dependents: it succeeded, or was skipped. */
function isDone(s: StepState | undefined): boolean {
  return s !== undefined && (s.status === 'succeeded' || s.status === 'skipped');
}

/** Holds a parallelism slot now. */
function holdsSlot(s: StepState): boolean {
  return isBusy(s) && !SLOTLESS.has(s.activity);
}

/** Ends running containers whose instances are all done. @returns whether one ended. */
function settleContainers(d: Draft, pipeline: AnyPipeline, specs: readonly StepSpec<unknown>[]): boolean {
  let settled = false;
  for (const spec of specs) {
    if (spec.settle === undefined || isTerminal(d.state)) continue;
    const s = d.state.steps.get(spec.id);
    if (s === undefined || s.status !== 'running') continue;
    const outcome = spec.settle(contextFor(d.state, pipeline));
    if (outcome === null) continue;
    settled = true;
    if (outcome.ok) succeedStep(d, s, outcome.output, null, null);
    else attemptFailed(d, s, { code: outcome.code, message: outcome.message }, null, true);
  }
  return settled;
}

/** Skips every handler no failure reached, once nothing else can move. @returns whether one was skipped. */
function skipUnreachedHandlers(d: Draft, specs: readonly StepSpec<unknown>[]): boolean {
  let skipped = false;
  for (const spec of specs) {
    if (spec.handler === undefined || spec.handler.reached || d.state.steps.has(spec.id)) continue;
    d.emit({ type: 'step-skipped', v: 1, at: d.now, step: spec.id, activity: spec.activity, reason: 'not-reached' });
    skipped = true;
  }
  return skipped;
}

/**
 * Starts what is ready and finishes the job when nothing is left. Loops
 * because a tool finishing at once can make further steps ready.
 */
export function plan(d: Draft): void {
  for (let round = 0; round < 10_000; round++) {
    if (d.state.created === null || isTerminal(d.state)) return;
    const pipeline = pipelineOf(d.state, d.env);
    let specs: readonly StepSpec<unknown>[];
    try {
      specs = pipeline.steps(contextFor(d.state, pipeline));
    } catch (err) {
      failJob(d, null, { code: 'pipeline-error', message: `pipeline ${pipeline.kind} failed to plan: ${describe(err)}` }, 0);
      return;
    }
    if (settleContainers(d, pipeline, specs)) continue;
    if (isTerminal(d.state)) return;
    const policy = requirePolicy(d.state);
    let slots = policy.maxParallelSteps - [...d.state.steps.values()].filter(holdsSlot).length;
    const groupBusy = new Map<string, number>();
    for (const spec of specs) {
      const s = d.state.steps.get(spec.id);
      if (spec.group !== undefined && s !== undefined && isBusy(s)) groupBusy.set(spec.group.id, (groupBusy.get(spec.group.id) ?? 0) + 1);
    }
    let started = false;
    // Whether what this round did may let more steps start: else the round's plan stands.
    let planAgain = false;
    for (const spec of specs) {
      if (isTerminal(d.state)) return;
      if (d.state.steps.has(spec.id)) continue;
      if (spec.handler !== undefined && !spec.handler.reached) continue;
      if (!spec.after.every((dep) => isDone(d.state.steps.get(dep)))) continue;
      if (d.state.steps.size >= MAX_JOB_STEP_INSTANCES) {
        // Every instance stays in the job's state and log: one job must not grow without bound on a shared host.
        failJob(d, null, { code: 'too-many-steps', message: `step ${spec.id} would be instance ${d.state.steps.size + 1} of this job; at most ${MAX_JOB_STEP_INSTANCES}` }, 0);
        return;
      }
      if (spec.skip !== undefined) {
        d.emit({ type: 'step-skipped', v: 1, at: d.now, step: spec.id, activity: spec.activity, reason: spec.skip });
        started = true;
        planAgain = true;
        break; // what depends on it may be skipped too: plan afresh
      }
      if (!SLOTLESS.has(spec.activity)) {
        if (slots <= 0) continue;
        if (spec.group !== undefined) {
          const busy = groupBusy.get(spec.group.id) ?? 0;
          if (busy >= spec.group.maxParallel) continue;
          groupBusy.set(spec.group.id, busy + 1);
        }
        slots--;
      }
      startStep(d, spec.id, 1, spec);
      started = true;
      // An instant step (tool, emit, choice) already ended: what follows may look different now (a branch taken), so plan afresh.
      if (INSTANT.has(spec.activity)) {
        planAgain = true;
        // A map instance's spec was fixed when its map started (its `when` too): one ending changes no other spec of this
        // round, so what follows starts now. A re-plan per instance made a map of 500 instant items 500 plans of every instance.
        if (spec.fixed === true && d.state.steps.get(spec.id)?.status === 'succeeded') continue;
        break;
      }
      // A container's instances join the plan once it started; a step that did not stay running (it could not be built) changed the plan.
      const now = d.state.steps.get(spec.id);
      if (CONTAINERS.has(spec.activity) || now === undefined || !(isBusy(now) || now.status === 'waiting-approval')) planAgain = true;
    }
    if (planAgain) continue;
    // Only steps that wait for an outcome started: nothing else can start before one ends (the job is live).
    if (started) return;
    if (isTerminal(d.state)) return;
    const live = [...d.state.steps.values()].some((s) => isBusy(s) || s.status === 'waiting-approval');
    if (live) return;
    if (skipUnreachedHandlers(d, specs)) continue;
    const pending = specs.filter((s) => !isDone(d.state.steps.get(s.id)));
    if (pending.length > 0) {
      const names = pending.map((s) => s.id).slice(0, 5).join(', ');
      failJob(d, null, { code: 'pipeline-stuck', message: `steps ${names} can never start: a dependency is missing` }, 0);
      return;
    }
    let output: unknown;
    try {
      output = pipeline.result(contextFor(d.state, pipeline));
    } catch (err) {
      failJob(d, null, { code: 'pipeline-error', message: `pipeline ${pipeline.kind} could not compose its result: ${describe(err)}` }, 0);
      return;
    }
    const bytes = outputBytes(output);
    const limit = outputLimit(d);
    if (bytes > limit) {
      failJob(d, null, { code: 'output-too-large', message: `${outputTooLargeMessage("the job's result", bytes, limit)}; name a smaller one in "result"` }, 0);
      return;
    }
    d.emit({ type: 'job-succeeded', v: 1, at: d.now, output: output ?? null });
    return;
  }
  throw new Error(`job ${d.state.id}: planning did not settle`);
}
