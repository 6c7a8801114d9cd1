/**
 * Fits a job view into one NATS message (a `get`, `start`, `cancel` or
 * `approve` reply): first the largest outputs are left out (the `output`
 * command serves them); when the rest alone is still too large (thousands
 * of step instances, long errors), the step list is summarised (counts per
 * status; the `steps` command pages it) and the view's other lists are cut
 * to their first VIEW_LIST_LIMIT entries. A summarised view is bounded by
 * the schema's limits on its texts (view-fit.test.ts measures the worst).
 */
import { VIEW_LIST_LIMIT, type JobView, type StepStatus } from '../../protocol/job.ts';
import { encodeJson } from '../../protocol/reply.ts';
import { outputBytes } from './state.ts';

/** What leaving an output out adds: `null` replaces it, plus the flag. */
const OMITTED_EXTRA_BYTES = Buffer.byteLength('null,"outputOmitted":true');

/**
 * A view as JSON bytes within `maxBytes`, for a reply that must fit in one
 * NATS message. A view that fits is encoded once and returned as is.
 * Otherwise the largest outputs (steps' and the job's) are left out first,
 * each becoming `output: null, outputOmitted: true`, until the encoding
 * fits; the `output` command serves them. When leaving out every output is
 * not enough, the steps are summarised (summarised()). Only a `maxBytes`
 * below a summarised view's size (far under the 1 MiB default max_payload)
 * gets an encoding over it (the host then answers `reply-too-large`).
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
  if (stale) bytes = encodeJson(wrap(fitted));
  if (bytes.length <= maxBytes) return bytes;
  return encodeJson(wrap(summarised(fitted)));
}

/**
 * The view with its steps counted instead of listed (`stepsOmitted`,
 * `stepCounts`) and its other lists cut to VIEW_LIST_LIMIT entries
 * (`listsTruncated` when any was). What is left is bounded: texts of
 * bounded length and four lists of at most VIEW_LIST_LIMIT entries.
 */
export function summarised(view: JobView): JobView {
  const stepCounts: Partial<Record<StepStatus, number>> = {};
  for (const s of view.steps) stepCounts[s.status] = (stepCounts[s.status] ?? 0) + 1;
  const cut = [view.waitingFor, view.artifacts, view.serviceTasks, view.waitingForWorker].some((list) => list.length > VIEW_LIST_LIMIT);
  return {
    ...view,
    steps: [],
    stepsOmitted: true,
    stepCounts,
    waitingFor: view.waitingFor.slice(0, VIEW_LIST_LIMIT),
    artifacts: view.artifacts.slice(0, VIEW_LIST_LIMIT),
    serviceTasks: view.serviceTasks.slice(0, VIEW_LIST_LIMIT),
    waitingForWorker: view.waitingForWorker.slice(0, VIEW_LIST_LIMIT),
    ...(cut ? { listsTruncated: true as const } : {}),
  };
}

/** Bytes an output takes in the view's JSON; nothing is gained by leaving out an absent one. */
function outputSize(output: unknown): number {
  return output === null || output === undefined ? 0 : outputBytes(output);
}
