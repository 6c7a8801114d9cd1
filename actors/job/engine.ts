/**
 * The job engine's decisions, one pure function per message: each takes the
 * state and the message and returns the events to append and the effects to
 * perform (a Draft). Refusals throw ProtocolError before anything is
 * emitted, so a refused command leaves no trace in the log.
 */
import { createHash } from 'node:crypto';
import { ProtocolError } from '../../protocol/errors.ts';
import type { JobPolicy } from '../../protocol/job-events.ts';
import type { InferenceResult } from '../../protocol/inference.ts';
import type { ParsedStartJobRequest } from '../../protocol/job.ts';
import { canonicalJson, priceUsage } from '../ports/index.ts';
import type { ActivityOutcome, JobTimer } from './effects.ts';
import { validatePipelineDefinition } from '../../protocol/pipeline-definition.ts';
import { compiledPipeline, knownPipeline } from './definitions/compile.ts';
import type { AnyPipeline } from './pipeline.ts';
import { activityOf, contextFor, Draft, type EngineEnv, pipelineOf, specOf } from './draft.ts';
import { plan } from './planner.ts';
import { attemptFailed, runEffects, startStep, stopInFlight, stopStep, succeedStep } from './step-transitions.ts';
import { evolve, isBusy, isTerminal, type JobState } from './state.ts';

/** Inference failures a new attempt of the step may overcome (the model was unavailable, or the call was cancelled under it). */
const STEP_RETRYABLE_CODES: ReadonlySet<string> = new Set(['dead-lettered', 'cancelled']);

/** Defaults a new job takes from configuration. */
export interface JobDefaults {
  readonly policy: JobPolicy;
  readonly model: string;
}

/** What makes two start requests "the same job". */
export function startRequestHash(req: ParsedStartJobRequest & { model: string }): string {
  const { kind, input, targetDocId, priority, model, pipeline } = req;
  // A recorded definition's version is part of the request; built-in kinds hash as they always did.
  const version = pipeline === null || pipeline === undefined ? {} : { pipelineVersion: pipeline.version };
  return createHash('sha256').update(canonicalJson({ kind, input, targetDocId, priority, model, ...version })).digest('hex');
}

/**
 * The pipeline a start request runs: the definition it carries (validated
 * whole, and of the same kind), else the catalog's pipeline of its kind.
 * @throws ProtocolError `invalid-input`.
 */
function pipelineForStart(req: ParsedStartJobRequest, env: EngineEnv): AnyPipeline {
  if (req.pipeline !== null) {
    if (req.pipeline.kind !== req.kind) throw new ProtocolError('invalid-input', `pipeline.kind ${JSON.stringify(req.pipeline.kind)} is not the job's kind ${JSON.stringify(req.kind)}`);
    // A definition this host validated and compiled before (same text: the jobs of one registered version) is not checked again.
    let pipeline = knownPipeline(req.pipeline.definition);
    if (pipeline === null) {
      const checked = validatePipelineDefinition(req.pipeline.definition);
      if (!checked.ok) {
        const first = checked.errors[0];
        throw new ProtocolError('invalid-input', `pipeline.definition${first?.path ?? ''}: ${first?.message ?? 'invalid'}`);
      }
      pipeline = compiledPipeline(req.pipeline.definition);
    }
    if (pipeline.kind !== req.kind) throw new ProtocolError('invalid-input', `pipeline.definition/kind ${JSON.stringify(pipeline.kind)} is not the job's kind`);
    return pipeline;
  }
  const pipeline = env.pipelines.get(req.kind);
  if (pipeline === undefined) {
    throw new ProtocolError('invalid-input', `unknown job kind ${JSON.stringify(req.kind)}; known kinds: ${[...env.pipelines.keys()].sort().join(', ')}`);
  }
  return pipeline;
}

function requireJob(state: JobState): void {
  if (state.created === null) throw new ProtocolError('not-found', `job ${state.id} does not exist`);
}

/**
 * Creates the job, or (same id again) returns `created: false` for the existing one.
 * @throws ProtocolError `invalid-input` (unknown kind, input failing its schema), `conflict` (the id names another request).
 */
export function decideStart(state: JobState, req: ParsedStartJobRequest, env: EngineEnv, defaults: JobDefaults): { draft: Draft; created: boolean } {
  const d = new Draft(state, env);
  const model = req.model ?? defaults.model;
  const existing = state.created;
  if (existing !== null) {
    const same = existing.owner === req.owner && existing.inputHash === startRequestHash({ ...req, model: req.model ?? existing.model });
    if (!same) {
      const what = req.idempotencyKey === null ? 'this job id' : 'this idempotency key';
      throw new ProtocolError('conflict', `${what} already names a job with a different request (kind, input, target or owner)`);
    }
    return { draft: d, created: false };
  }
  const pipeline = pipelineForStart(req, env);
  const parsed = pipeline.input.safeParse(req.input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue === undefined || issue.path.length === 0 ? 'input' : `input.${issue.path.join('.')}`;
    throw new ProtocolError('invalid-input', `${req.kind}: ${where}: ${issue?.message ?? 'invalid'}`);
  }
  d.emit({
    type: 'job-created',
    v: 1,
    at: env.now,
    kind: req.kind,
    input: req.input ?? null,
    owner: req.owner,
    idempotencyKey: req.idempotencyKey,
    targetDocId: req.targetDocId,
    inputHash: startRequestHash({ ...req, model }),
    priority: req.priority,
    model,
    policy: defaults.policy,
    ...(req.pipeline === null ? {} : { pipeline: req.pipeline }),
  });
  plan(d);
  return { draft: d, created: true };
}

/**
 * Cancels a live job; cancelling a cancelled job again changes nothing.
 * @throws ProtocolError `not-found`, or `conflict` when the job already ended otherwise.
 */
export function decideCancel(state: JobState, req: { by: string; reason: string | null }, env: EngineEnv): Draft {
  requireJob(state);
  const d = new Draft(state, env);
  if (state.status === 'cancelled') return d;
  if (isTerminal(state)) throw new ProtocolError('conflict', `job ${state.id} already ${state.status}; nothing to cancel`);
  stopInFlight(d);
  d.emit({ type: 'job-cancelled', v: 1, at: env.now, by: req.by, reason: req.reason });
  return d;
}

/**
 * Approves (the job goes on) or rejects (the job ends as rejected) a step waiting for approval.
 * @throws ProtocolError `not-found`, or `conflict` when no (or no such) step waits.
 */
export function decideApprove(state: JobState, req: { by: string; approved: boolean; step: string | null; comment: string | null }, env: EngineEnv): Draft {
  requireJob(state);
  if (isTerminal(state)) throw new ProtocolError('conflict', `job ${state.id} already ${state.status}; nothing waits for approval`);
  const waiting = [...state.steps.values()].filter((s) => s.status === 'waiting-approval');
  const target = req.step === null ? (waiting.length === 1 ? waiting[0] : undefined) : waiting.find((s) => s.id === req.step);
  if (target === undefined) {
    const names = waiting.map((s) => s.id).join(', ');
    throw new ProtocolError(
      'conflict',
      waiting.length === 0 ? `job ${state.id} is not waiting for approval` : req.step === null ? `several steps wait (${names}); name one` : `step ${req.step} is not waiting; waiting: ${names}`,
    );
  }
  const d = new Draft(state, env);
  d.emit({ type: 'approval-decided', v: 1, at: env.now, step: target.id, approved: req.approved, by: req.by, comment: req.comment });
  if (!req.approved && req.comment !== null && req.comment.trim() !== '') {
    const revision = revisionOf(d, target.id);
    if (revision !== null && state.revisions.length + 1 < MAX_REVISION_ROUNDS) {
      revise(d, target.id, revision.reenterAt, req.by, req.comment);
      return d;
    }
  }
  if (req.approved) {
    d.emit({
      type: 'step-succeeded',
      v: 1,
      at: env.now,
      step: target.id,
      attempt: target.attempt,
      output: { approved: true, by: req.by, comment: req.comment },
      usage: null,
      artifact: null,
    });
    plan(d);
  } else {
    stopInFlight(d);
    d.emit({ type: 'job-rejected', v: 1, at: env.now, step: target.id, by: req.by, comment: req.comment });
  }
  return d;
}

/** Rounds a job may run; a rejection with a comment past the last one rejects the job. */
export const MAX_REVISION_ROUNDS = 20;

/** The revision an approval step declares, or null. */
function revisionOf(d: Draft, stepId: string): { reenterAt: string } | null {
  try {
    return specOf(d.state, pipelineOf(d.state, d.env), stepId).revision ?? null;
  } catch {
    // A step the pipeline no longer lists has no revision: the rejection rejects the job.
    return null;
  }
}

/**
 * Starts revision round n+1 at `reenterAt`: the approval is decided, and the
 * re-entered step and everything after it run again as new instances with
 * the comment in their context. Instances of the old round still running
 * are stopped.
 */
function revise(d: Draft, stepId: string, reenterAt: string, by: string, comment: string): void {
  const round = (d.state.revisions.at(-1)?.round ?? 1) + 1;
  const event = { type: 'job-revised' as const, v: 1 as const, at: d.now, step: stepId, reenterAt, round, by, comment, cancelled: [] as string[] };
  // Which running instances the new round leaves behind: those the pipeline no longer lists once the round starts.
  const pipeline = pipelineOf(d.state, d.env);
  const trial = evolve(d.state, event, d.state.lastSeq);
  const listed = new Set(pipeline.steps(contextFor(trial, pipeline)).map((s) => s.id));
  const running = [...d.state.steps.values()].filter((s) => s.id !== stepId && isBusy(s) && !listed.has(s.id));
  for (const s of running) stopStep(d, s);
  d.emit({ ...event, cancelled: running.map((s) => s.id) });
  plan(d);
}

/**
 * Takes a model's answer for the running attempt it belongs to; answers for
 * anything else (duplicates, late answers of timed-out attempts, ended jobs)
 * change nothing.
 */
export function decideInferenceResult(state: JobState, result: InferenceResult, env: EngineEnv): Draft {
  const d = new Draft(state, env);
  if (state.created === null || isTerminal(state)) return d;
  const s = [...state.steps.values()].find((x) => x.requestId === result.requestId && x.status === 'running');
  if (s === undefined) return d;
  if (!result.ok) {
    // `terminal` is the worker's view (it will not retry); a request dead-lettered after
    // transient failures may still succeed in a later attempt of the step.
    const terminal = result.error.terminal && !STEP_RETRYABLE_CODES.has(result.error.code);
    attemptFailed(d, s, { code: result.error.code, message: result.error.message }, null, terminal);
    plan(d);
    return d;
  }
  const usage = priceUsage(
    {
      model: result.usage.model,
      promptTokens: result.usage.promptTokens,
      completionTokens: result.usage.completionTokens,
      timeToFirstTokenMs: result.usage.timeToFirstTokenMs,
      durationMs: result.usage.durationMs,
    },
    env.prices,
  );
  let output: unknown;
  try {
    const activity = activityOf(d, s.id);
    if (activity.type !== 'inference') throw new Error(`step ${s.id} is not an inference step`);
    output = activity.parse(result.text);
  } catch (err) {
    const code = (err as { code?: unknown }).code === 'invalid-output' ? 'invalid-output' : 'parse-failed';
    attemptFailed(d, s, { code, message: err instanceof Error ? err.message : String(err) }, usage, false);
    plan(d);
    return d;
  }
  succeedStep(d, s, output, usage, null);
  plan(d);
  return d;
}

/** A local activity (artifact or document write) of attempt `attempt` ended. Stale outcomes change nothing. */
export function decideActivityDone(state: JobState, done: { step: string; attempt: number; outcome: ActivityOutcome }, env: EngineEnv): Draft {
  const d = new Draft(state, env);
  if (state.created === null || isTerminal(state)) return d;
  const s = state.steps.get(done.step);
  if (s === undefined || s.status !== 'running' || s.attempt !== done.attempt) return d;
  if (done.outcome.ok) {
    succeedStep(d, s, done.outcome.output, null, done.outcome.artifact);
  } else {
    attemptFailed(d, s, done.outcome.error, null, !done.outcome.retryable);
  }
  plan(d);
  return d;
}

/** A timer fired: an attempt's deadline, or the end of a retry backoff. Timers of attempts that moved on change nothing. */
export function decideTimer(state: JobState, timer: { timer: JobTimer; step: string; attempt: number }, env: EngineEnv): Draft {
  const d = new Draft(state, env);
  if (state.created === null || isTerminal(state)) return d;
  const s = state.steps.get(timer.step);
  if (s === undefined || s.attempt !== timer.attempt) return d;
  if (timer.timer === 'timeout') {
    if (s.status !== 'running' || s.deadlineAt === null) return d;
    if (env.now < s.deadlineAt) {
      d.effect({ type: 'arm-timer', timer: 'timeout', step: s.id, attempt: s.attempt, at: s.deadlineAt });
      return d;
    }
    if (s.activity === 'inference' && s.requestId !== null) d.effect({ type: 'cancel-inference', step: s.id, requestId: s.requestId });
    else d.effect({ type: 'abort-step', step: s.id });
    const ms = s.deadlineAt - s.attemptStartedAt;
    attemptFailed(d, s, { code: 'timeout', message: `attempt ${s.attempt} of step ${s.id} got no result within ${ms} ms` }, null, false);
  } else {
    if (s.status !== 'retry-wait' || s.retryAt === null) return d;
    if (env.now < s.retryAt) {
      d.effect({ type: 'arm-timer', timer: 'retry', step: s.id, attempt: s.attempt, at: s.retryAt });
      return d;
    }
    startStep(d, s.id, s.attempt + 1);
  }
  plan(d);
  return d;
}

/**
 * After (re)activation: re-arms every timer from durable state, re-runs the
 * work of attempts that were running (model calls are resubmitted with the
 * same request id, which the queue deduplicates; object and document writes
 * are idempotent), and starts whatever became ready before the crash.
 */
export function decideRecover(state: JobState, env: EngineEnv): Draft {
  const d = new Draft(state, env);
  if (state.created === null || isTerminal(state)) return d;
  for (const s of state.steps.values()) {
    if (s.status === 'retry-wait' && s.retryAt !== null) {
      d.effect({ type: 'arm-timer', timer: 'retry', step: s.id, attempt: s.attempt, at: s.retryAt });
    } else if (s.status === 'running') {
      let activity;
      try {
        activity = activityOf(d, s.id);
      } catch (err) {
        attemptFailed(d, s, { code: 'pipeline-error', message: err instanceof Error ? err.message : String(err) }, null, true);
        return d;
      }
      runEffects(d, s, activity);
    }
  }
  plan(d);
  return d;
}
