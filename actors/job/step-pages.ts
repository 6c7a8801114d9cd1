/**
 * The `steps` command's pages: a job's step instances in start order (the
 * order never changes: instances are only added), for views whose step
 * list was summarised to fit one message (view-fit.ts). A page holds up to
 * `limit` steps and stops early to fit `maxBytes`; it always holds at least
 * one step, with its output left out when that alone would not fit (a step
 * without its output is bounded by the schema's limits on its texts). Each
 * entry also says which worker holds the step's service task and whether
 * its queue has no live worker, so the lists a summarised view cuts can be
 * read in full here.
 */
import type { JobStepsRequest } from '../../protocol/job.ts';
import type { ServiceTaskView, WaitingForWorker } from './service-supervisor.ts';
import type { JobState } from './state.ts';
import { stepView } from './view.ts';

/** What the service supervisor knows of running steps now (the view's serviceTasks and waitingForWorker). */
export interface LiveSteps {
  readonly serviceTasks: readonly ServiceTaskView[];
  readonly waitingForWorker: readonly WaitingForWorker[];
}

/** Room for `{"total":…,"offset":…,"nextOffset":…,"steps":[]}` with the longest numbers. */
const PAGE_FRAME_BYTES = 128;

/**
 * A `steps` page of `state` as JSON bytes (a JobStepsReply).
 * @param maxBytes the reply's budget; unlimited when Infinity
 */
export function encodeStepsPage(state: JobState, request: Required<JobStepsRequest>, maxBytes: number, live: LiveSteps = { serviceTasks: [], waitingForWorker: [] }): Uint8Array {
  const steps = [...state.steps.values()];
  const held = new Map(live.serviceTasks.map(({ step, ...task }) => [step, task]));
  const waiting = new Map(live.waitingForWorker.map(({ step, activity, queue }) => [step, { activity, queue }]));
  const end = Math.min(steps.length, request.offset + request.limit);
  const entries: string[] = [];
  let used = PAGE_FRAME_BYTES;
  let next = request.offset;
  for (; next < end; next++) {
    const s = steps[next];
    if (s === undefined) break;
    const entry = { ...stepView(s), artifact: s.artifact, serviceTask: held.get(s.id) ?? null, waitingForWorker: waiting.get(s.id) ?? null };
    let json = JSON.stringify(entry);
    let bytes = Buffer.byteLength(json) + 1;
    if (used + bytes > maxBytes) {
      if (entries.length > 0) break;
      // The first step of a page always goes in: without its output when that is what does not fit.
      if (entry.output !== null && entry.output !== undefined) json = JSON.stringify({ ...entry, output: null, outputOmitted: true });
      bytes = Buffer.byteLength(json) + 1;
    }
    entries.push(json);
    used += bytes;
  }
  const nextOffset = next < steps.length ? next : null;
  return new TextEncoder().encode(`{"total":${steps.length},"offset":${request.offset},"nextOffset":${nextOffset},"steps":[${entries.join(',')}]}`);
}
