/**
 * Read models of a job's state: the JobView clients get (`get`, GET
 * /v1/jobs/:id) and the rows of the PostgreSQL projection. Both are pure
 * functions of the folded state, so a rebuild from the log gives the same.
 * Fitting a view into one message is view-fit.ts.
 */
import type { ArtifactRef, Usage } from '../../protocol/job-events.ts';
import type { JobStepView, JobView, UsageTotals } from '../../protocol/job.ts';
import type { JobProjectionRecord } from './ports.ts';
import { isBusy, type JobState, type StepState } from './state.ts';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

export function sumUsage(calls: readonly Usage[]): UsageTotals {
  const totals = { calls: 0, promptTokens: 0, completionTokens: 0, costUsd: 0, modelMs: 0 };
  for (const c of calls) {
    totals.calls++;
    totals.promptTokens += c.promptTokens;
    totals.completionTokens += c.completionTokens;
    totals.costUsd += c.costUsd;
    totals.modelMs += c.durationMs;
  }
  totals.costUsd = Math.round(totals.costUsd * 1e9) / 1e9;
  return totals;
}

/** One step as views and step pages show it. */
export function stepView(s: StepState): JobStepView {
  return {
    id: s.id,
    activity: s.activity,
    status: s.status,
    skipReason: s.skipReason,
    attempt: s.attempt,
    startedAt: iso(s.startedAt),
    finishedAt: iso(s.finishedAt),
    retryAt: iso(s.retryAt),
    error: s.error,
    usage: sumUsage(s.calls),
    calls: [...s.calls],
    output: s.output,
  };
}

function artifacts(state: JobState): ArtifactRef[] {
  return [...state.steps.values()].flatMap((s) => (s.artifact === null ? [] : [s.artifact]));
}

/**
 * The client's view of a job.
 * @throws Error when the job does not exist.
 */
export function jobView(state: JobState): JobView {
  const c = state.created;
  if (c === null) throw new Error(`job ${state.id} does not exist`);
  const calls = [...state.steps.values()].flatMap((s) => s.calls);
  const end = state.finishedAt ?? state.updatedAt;
  return {
    id: state.id,
    kind: c.kind,
    status: state.status,
    owner: c.owner,
    idempotencyKey: c.idempotencyKey,
    targetDocId: c.targetDocId,
    priority: c.priority,
    model: c.model,
    createdAt: new Date(c.at).toISOString(),
    updatedAt: new Date(state.updatedAt).toISOString(),
    finishedAt: iso(state.finishedAt),
    lastSeq: state.lastSeq,
    steps: [...state.steps.values()].map(stepView),
    waitingFor: [...state.steps.values()].filter((s) => s.status === 'waiting-approval').map((s) => s.id),
    output: state.output,
    artifacts: artifacts(state),
    error: state.error,
    usage: { ...sumUsage(calls), durationMs: Math.max(0, end - c.at) },
    stuck: state.stuckSince !== null,
    stuckSince: iso(state.stuckSince),
    pipeline: c.pipeline === undefined ? null : { kind: c.pipeline.kind, version: c.pipeline.version },
    // Whether a worker is alive is not in the log: the live actor fills these in (service-supervisor.ts).
    statusDetail: null,
    waitingForWorker: [],
    serviceTasks: [],
  };
}

/** Whether the job has work that needs a live host (a running or retrying step); approvals alone do not. */
export function needsHost(state: JobState): boolean {
  if (state.created === null) return false;
  if (state.status === 'succeeded' || state.status === 'failed' || state.status === 'cancelled' || state.status === 'rejected') return false;
  if (state.status === 'pending') return true;
  return [...state.steps.values()].some(isBusy) || ![...state.steps.values()].some((s) => s.status === 'waiting-approval');
}

/**
 * The projection rows of a job as of `state.lastSeq`; only `steps` listed
 * in `changedSteps` are included (all when undefined).
 * @throws Error when the job does not exist.
 */
export function projectionRecord(state: JobState, changedSteps?: ReadonlySet<string>): JobProjectionRecord {
  const c = state.created;
  if (c === null) throw new Error(`job ${state.id} does not exist`);
  const view = jobView(state);
  const steps = [...state.steps.values()].filter((s) => changedSteps === undefined || changedSteps.has(s.id));
  const failed = state.status === 'failed' ? [...state.steps.values()].find((s) => s.status === 'failed') : undefined;
  return {
    job: {
      id: state.id,
      kind: c.kind,
      owner: c.owner,
      idempotencyKey: c.idempotencyKey,
      targetDocId: c.targetDocId,
      status: state.status,
      needsHost: needsHost(state),
      lastSeq: state.lastSeq,
      input: c.input,
      output: state.output,
      error: state.error,
      usage: view.usage,
      createdAt: new Date(c.at),
      updatedAt: new Date(state.updatedAt),
      finishedAt: state.finishedAt === null ? null : new Date(state.finishedAt),
    },
    steps: steps.map((s) => ({
      jobId: state.id,
      step: s.id,
      activity: s.activity,
      status: s.status,
      attempt: s.attempt,
      error: s.error,
      usage: sumUsage(s.calls),
      startedAt: new Date(s.startedAt),
      finishedAt: s.finishedAt === null ? null : new Date(s.finishedAt),
      lastSeq: state.lastSeq,
    })),
    deadLetter:
      state.status === 'failed' && state.error !== null
        ? {
            jobId: state.id,
            kind: c.kind,
            owner: c.owner,
            step: failed?.id ?? null,
            attempts: failed?.attempt ?? 0,
            error: state.error,
            lastAttemptError: failed?.error ?? null,
            failedAt: new Date(state.finishedAt ?? state.updatedAt),
          }
        : null,
  };
}
