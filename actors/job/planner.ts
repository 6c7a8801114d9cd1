/**
 * The scheduler at the heart of the engine, pure: given a job's state and
 * its pipeline, it starts every step whose dependencies succeeded (bounded
 * by the job's parallelism; approvals and tools take no slot), settles maps
 * and loops whose instances are done, and finishes the job when every step
 * succeeded. What happens to one step (tool steps run on the spot, failed
 * attempts turn into retries or a failed job) is in step-transitions.ts. It
 * works on a Draft (draft.ts): events are folded into the draft's state as
 * they are emitted, so each decision sees the consequences of the previous one.
 */
import { MAX_JOB_STEP_INSTANCES } from '../../protocol/pipeline-definition.ts';
import type { AnyPipeline, StepSpec } from './pipeline.ts';
import { outputTooLargeMessage } from './output-limit.ts';
import { contextFor, type Draft, outputLimit, pipelineOf, requirePolicy } from './draft.ts';
import { attemptFailed, describe, failJob, startStep, succeedStep } from './step-transitions.ts';
import { isBusy, isTerminal, outputBytes, type StepState } from './state.ts';

const INSTANT: ReadonlySet<string> = new Set(['tool', 'emit', 'choice']);
const CONTAINERS: ReadonlySet<string> = new Set(['map', 'loop']);
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
