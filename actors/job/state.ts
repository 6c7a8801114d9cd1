/**
 * A job's state is the fold of its log: `evolve(state, event, seq)` is pure,
 * total over every event type, and the only way state changes, in the actor
 * and in replays alike. Steps appear in the state when they start; steps of
 * the pipeline that have not started yet live only in the pipeline.
 */
import type { ArtifactRef, ActivityType, JobError, JobEvent, JobEventOf, SkipReason, Usage } from '../../protocol/job-events.ts';
import type { JobStatus, StepStatus } from '../../protocol/job.ts';
import { StepMap } from './step-map.ts';

export interface StepState {
  readonly id: string;
  readonly activity: ActivityType;
  readonly status: StepStatus;
  /** The current (or last) attempt, from 1. */
  readonly attempt: number;
  /** Inference request id of the current attempt. */
  readonly requestId: string | null;
  readonly startedAt: number;
  readonly attemptStartedAt: number;
  readonly deadlineAt: number | null;
  readonly retryAt: number | null;
  readonly finishedAt: number | null;
  readonly output: unknown;
  /** The last attempt's error. */
  readonly error: JobError | null;
  /** Every model call the step made, failed attempts included. */
  readonly calls: readonly Usage[];
  readonly artifact: ArtifactRef | null;
  /** Why a `skipped` step did not run; null otherwise. */
  readonly skipReason: SkipReason | null;
}

/** A revision round a rejection with a comment started (job-revised). */
export interface Revision {
  readonly step: string;
  readonly reenterAt: string;
  readonly round: number;
  readonly by: string;
  readonly comment: string;
  readonly at: number;
}

export interface JobState {
  readonly id: string;
  /** Sequence of the last event folded in (0: empty log). */
  readonly lastSeq: number;
  /** The creation event; null while the job does not exist. */
  readonly created: JobEventOf<'job-created'> | null;
  readonly status: JobStatus;
  /** Started steps, in start order. */
  readonly steps: ReadonlyMap<string, StepState>;
  readonly output: unknown;
  readonly error: JobError | null;
  readonly updatedAt: number;
  readonly finishedAt: number | null;
  /** When the stuck-job watchdog flagged the job: the time of its last progress; null while it moves. */
  readonly stuckSince: number | null;
  /** Revision rounds, oldest first. */
  readonly revisions: readonly Revision[];
  /** Bytes (as JSON) of every output the job's steps recorded, which its state holds (bounded by MAX_JOB_OUTPUT_BYTES). */
  readonly outputBytes: number;
}

/** Sizes of output objects already measured: the planner checks an output before recording it, and the fold adds the same object. */
const measuredOutputs = new WeakMap<object, number>();

/** Bytes of an output as the log's JSON; an absent output records null. Outputs are never changed once made. */
export function outputBytes(output: unknown): number {
  if (typeof output !== 'object' || output === null) return Buffer.byteLength(JSON.stringify(output ?? null), 'utf8');
  let bytes = measuredOutputs.get(output);
  if (bytes === undefined) {
    bytes = Buffer.byteLength(JSON.stringify(output), 'utf8');
    measuredOutputs.set(output, bytes);
  }
  return bytes;
}

export function emptyJobState(id: string): JobState {
  return { id, lastSeq: 0, created: null, status: 'pending', steps: StepMap.empty(), output: null, error: null, updatedAt: 0, finishedAt: null, stuckSince: null, revisions: [], outputBytes: 0 };
}

export function isTerminal(state: JobState): boolean {
  return state.status === 'succeeded' || state.status === 'failed' || state.status === 'cancelled' || state.status === 'rejected';
}

/** Steps holding a parallelism slot: running, or waiting to retry. */
export function isBusy(step: StepState): boolean {
  return step.status === 'running' || step.status === 'retry-wait';
}

/** Status of a live job from its steps: running while anything runs or waits to retry, else waiting while an approval waits. */
function liveStatus(steps: ReadonlyMap<string, StepState>): JobStatus {
  if (steps instanceof StepMap) return steps.busy > 0 ? 'running' : steps.waiting > 0 ? 'waiting-approval' : steps.size === 0 ? 'pending' : 'running';
  let waiting = false;
  for (const s of steps.values()) {
    if (isBusy(s)) return 'running';
    if (s.status === 'waiting-approval') waiting = true;
  }
  if (waiting) return 'waiting-approval';
  return steps.size === 0 ? 'pending' : 'running';
}

/** The steps with `changed` set; a fold that copied the whole map per event was quadratic in the job's step instances. */
function withSteps(state: JobState, changed: readonly StepState[]): ReadonlyMap<string, StepState> {
  const steps = state.steps instanceof StepMap ? state.steps : StepMap.empty().with(state.steps.values());
  return steps.with(changed);
}

function requireStep(state: JobState, id: string, type: string): StepState {
  const s = state.steps.get(id);
  if (s === undefined) throw new Error(`job ${state.id}: ${type} for step ${id} that never started`);
  return s;
}

/**
 * Folds one event into the state.
 * @throws Error when the event contradicts the state (a log that was not written by this fold's rules).
 */
export function evolve(state: JobState, event: JobEvent, seq: number): JobState {
  const at = event.at;
  // Every event but job-stuck is progress: it moves updatedAt and clears the stuck flag.
  const next = (patch: Partial<JobState>): JobState => ({ ...state, stuckSince: null, ...patch, lastSeq: seq, updatedAt: at });
  switch (event.type) {
    case 'job-created':
      if (state.created !== null) throw new Error(`job ${state.id} created twice`);
      return next({ created: event, status: 'pending' });
    case 'step-started': {
      const previous = state.steps.get(event.step);
      const step: StepState = {
        id: event.step,
        activity: event.activity,
        status: event.activity === 'approval' ? 'waiting-approval' : 'running',
        attempt: event.attempt,
        requestId: event.requestId,
        startedAt: previous?.startedAt ?? at,
        attemptStartedAt: at,
        deadlineAt: event.deadlineAt,
        retryAt: null,
        finishedAt: null,
        output: null,
        error: previous?.error ?? null,
        calls: previous?.calls ?? [],
        artifact: null,
        skipReason: null,
      };
      const steps = withSteps(state, [step]);
      return next({ steps, status: liveStatus(steps) });
    }
    case 'step-succeeded': {
      const s = requireStep(state, event.step, event.type);
      const steps = withSteps(state, [{
        ...s,
        status: 'succeeded',
        finishedAt: at,
        deadlineAt: null,
        output: event.output,
        error: null,
        calls: event.usage === null ? s.calls : [...s.calls, event.usage],
        artifact: event.artifact,
      }]);
      return next({ steps, status: liveStatus(steps), outputBytes: state.outputBytes + outputBytes(event.output) });
    }
    case 'step-attempt-failed': {
      const s = requireStep(state, event.step, event.type);
      const steps = withSteps(state, [{
        ...s,
        status: event.retryAt === null ? 'failed' : 'retry-wait',
        retryAt: event.retryAt,
        deadlineAt: null,
        finishedAt: event.retryAt === null ? at : null,
        error: event.error,
        calls: event.usage === null ? s.calls : [...s.calls, event.usage],
      }]);
      return next({ steps, status: liveStatus(steps) });
    }
    case 'approval-decided': {
      // The decision is recorded; step-succeeded or job-rejected that follows changes the state.
      requireStep(state, event.step, event.type);
      return next({});
    }
    case 'job-succeeded':
      return next({ status: 'succeeded', output: event.output, finishedAt: at });
    case 'job-failed':
      return next({ status: 'failed', error: event.error, finishedAt: at, steps: settleSteps(state, at) });
    case 'job-cancelled':
      return next({ status: 'cancelled', error: { code: 'cancelled', message: event.reason ?? `cancelled by ${event.by}` }, finishedAt: at, steps: settleSteps(state, at) });
    case 'job-rejected':
      return next({ status: 'rejected', error: { code: 'rejected', message: event.comment ?? `rejected by ${event.by}` }, finishedAt: at, steps: settleSteps(state, at) });
    case 'step-skipped': {
      const previous = state.steps.get(event.step);
      const steps = withSteps(state, [{
        id: event.step,
        activity: previous?.activity ?? event.activity,
        status: 'skipped',
        attempt: previous?.attempt ?? 0,
        requestId: previous?.requestId ?? null,
        startedAt: previous?.startedAt ?? at,
        attemptStartedAt: previous?.attemptStartedAt ?? at,
        deadlineAt: null,
        retryAt: null,
        finishedAt: at,
        output: null,
        error: previous?.error ?? null,
        calls: previous?.calls ?? [],
        artifact: null,
        skipReason: event.reason,
      }]);
      return next({ steps, status: liveStatus(steps) });
    }
    case 'job-revised': {
      // The rejected approval is decided ("revise"); instances still running in the re-entered part stop.
      const s = requireStep(state, event.step, event.type);
      const stopped = event.cancelled.flatMap((id) => {
        const r = state.steps.get(id);
        return r === undefined ? [] : [{ ...r, status: 'cancelled' as const, finishedAt: at, deadlineAt: null, retryAt: null }];
      });
      const steps = withSteps(state, [{ ...s, status: 'succeeded', finishedAt: at, output: { approved: false, by: event.by, comment: event.comment, revised: true } }, ...stopped]);
      const revisions = [...state.revisions, { step: event.step, reenterAt: event.reenterAt, round: event.round, by: event.by, comment: event.comment, at }];
      return next({ steps, revisions, status: liveStatus(steps) });
    }
    case 'job-stuck':
      // Not progress: updatedAt stays the time of the last event that was.
      return { ...state, lastSeq: seq, stuckSince: event.since };
    default: {
      const never: never = event;
      throw new Error(`unhandled job event ${JSON.stringify(never)}`);
    }
  }
}

/** When a job ends, steps still running or waiting are cancelled. */
function settleSteps(state: JobState, at: number): ReadonlyMap<string, StepState> {
  const stopped: StepState[] = [];
  for (const s of state.steps.values()) {
    if (s.status === 'running' || s.status === 'retry-wait' || s.status === 'waiting-approval') stopped.push({ ...s, status: 'cancelled', finishedAt: at, deadlineAt: null, retryAt: null });
  }
  return stopped.length === 0 ? state.steps : withSteps(state, stopped);
}

/** Folds a whole log. */
export function foldJob(id: string, events: Iterable<{ seq: number; event: JobEvent }>): JobState {
  let state = emptyJobState(id);
  for (const { seq, event } of events) state = evolve(state, event, seq);
  return state;
}

/** Outputs of succeeded steps, by id. */
export function succeededOutputs(state: JobState): ReadonlyMap<string, unknown> {
  const out = new Map<string, unknown>();
  for (const s of state.steps.values()) if (s.status === 'succeeded') out.set(s.id, s.output);
  return out;
}
