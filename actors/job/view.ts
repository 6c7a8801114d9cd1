/**
 * Read models of a job's state: the JobView clients get (`get`, GET
 * /v1/jobs/:id) and the rows of the PostgreSQL projection. Both are pure
 * functions of the folded state, so a rebuild from the log gives the same.
 */
import type { ArtifactRef, Usage } from '../../protocol/job-events.ts';
import type { JobStepView, JobView, UsageTotals } from '../../protocol/job.ts';
import { encodeJson } from '../../protocol/reply.ts';
import type { JobProjectionRecord } from './ports.ts';
import { isBusy, outputBytes, type JobState, type StepState } from './state.ts';

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

function stepView(s: StepState): JobStepView {
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

/** What leaving an output out adds: `null` replaces it, plus the flag. */
const OMITTED_EXTRA_BYTES = Buffer.byteLength('null,"outputOmitted":true');

/**
 * A view as JSON bytes within `maxBytes`, for a reply that must fit in one
 * NATS message. A view that fits is encoded once and returned as is.
 * Otherwise the largest outputs (steps' and the job's) are left out first,
 * each becoming `output: null, outputOmitted: true`, until the encoding
 * fits; the `output` command serves them. When nothing more can be left
 * out, the smallest encoding reached is returned, over `maxBytes` (the host
 * then answers `reply-too-large`).
 * @param wrap what to encode around the view (start's `{created, job}`); the view itself when absent.
 * @example encodeViewWithin(view, 1_032_192, (job) => ({ created, job }))
 */
export function encodeViewWithin(view: JobView, maxBytes: number, wrap: (job: JobView) => unknown = (job) => job): Uint8Array {
  let bytes = encodeJson(wrap(view));
  if (bytes.length <= maxBytes) return bytes;
  // Outputs are measured as the log's JSON (cached per object), the same text the view encodes them as.
  const candidates = [
    { step: null as number | null, bytes: outputSize(view.output) },
    ...view.steps.map((s, i) => ({ step: i as number | null, bytes: outputSize(s.output) })),
  ]
    .filter((c) => c.bytes > OMITTED_EXTRA_BYTES)
    .sort((a, b) => b.bytes - a.bytes);
  // One copy to edit; the caller's view is left as it was.
  const fitted: JobView = { ...view, steps: [...view.steps] };
  let estimate = bytes.length;
  let stale = false;
  for (const candidate of candidates) {
    if (candidate.step === null) {
      fitted.output = null;
      fitted.outputOmitted = true;
    } else {
      const step = fitted.steps[candidate.step];
      if (step !== undefined) fitted.steps[candidate.step] = { ...step, output: null, outputOmitted: true };
    }
    stale = true;
    estimate -= candidate.bytes - OMITTED_EXTRA_BYTES;
    if (estimate > maxBytes) continue;
    // The estimate can be off (an output absent from the view's JSON, say): the encoding decides.
    bytes = encodeJson(wrap(fitted));
    stale = false;
    if (bytes.length <= maxBytes) return bytes;
    estimate = bytes.length;
  }
  return stale ? encodeJson(wrap(fitted)) : bytes;
}

/** Bytes an output takes in the view's JSON; nothing is gained by leaving out an absent one. */
function outputSize(output: unknown): number {
  return output === null || output === undefined ? 0 : outputBytes(output);
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
