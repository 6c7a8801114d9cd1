/**
 * What happens to one step: starting an attempt (tool steps run and finish
 * on the spot; others get the effects that run them elsewhere), recording
 * its success, or its failure as a retry (backoff with jitter) or the step's
 * onFailure, stopping its work in flight, and failing the job. Each writes
 * to a Draft, so the next decision sees its consequences.
 */
import { MAX_JOB_OUTPUT_BYTES, type ArtifactRef, type JobError, type Usage } from '../../protocol/job-events.ts';
import { requestIdFor } from '../ports/index.ts';
import type { InferenceCall, ServiceTask } from './effects.ts';
import type { Activity, StepSpec } from './pipeline.ts';
import { outputTooLargeMessage } from './output-limit.ts';
import { nextRetryAt } from './retry-policy.ts';
import { activityOf, type Draft, outputLimit, pipelineOf, requirePolicy, specOf } from './draft.ts';
import { outputBytes, type StepState } from './state.ts';

/** The text of a thrown value, for an error message. */
export function describe(err: unknown): string {
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

/** Activities whose attempts get no deadline (startStep says why). */
const UNTIMED: ReadonlySet<string> = new Set(['tool', 'emit', 'choice', 'approval', 'service', 'map', 'loop']);

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
