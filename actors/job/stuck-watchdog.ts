/**
 * The stuck-job watchdog, decided from the job's own state. A job that
 * should be moving by itself (pending, or running or retrying a step) but
 * appended no event for `stuckAfterMs` gets one `job-stuck` event: the flag
 * its view shows and webhooks deliver as `job.stuck`. Its next event clears
 * the flag, and a later stall flags it again.
 *
 * It runs on the job actor's own timer, so exactly one place in the cluster
 * watches a job: its single activation. A job with work in flight never
 * passivates, and after its host dies the supervisor reactivates it, whose
 * recovery re-arms the timer. A job waiting only for a human decision is not
 * watched: it waits as long as it takes, and may passivate meanwhile.
 */
import { JOB_EVENT_VERSION } from '../../protocol/job-events.ts';
import { Draft, type EngineEnv } from './draft.ts';
import { isTerminal, type JobState } from './state.ts';

/** The actor's timer that checks for a stall. */
export const STUCK_CHECK_TIMER = 'stuck-check';

/**
 * When the job counts as stuck if nothing happens before (ms since the
 * epoch); null when it is not watched: not created, ended, waiting only for
 * approval, or already flagged since its last progress.
 */
export function stuckDueAt(state: JobState, stuckAfterMs: number): number | null {
  if (state.created === null || isTerminal(state) || state.stuckSince !== null) return null;
  if (state.status === 'waiting-approval') return null;
  return state.updatedAt + stuckAfterMs;
}

/** A draft with the `job-stuck` event when the job is due at `env.now`; empty when it moved or is not watched. */
export function decideStuck(state: JobState, env: EngineEnv, stuckAfterMs: number): Draft {
  const d = new Draft(state, env);
  const due = stuckDueAt(state, stuckAfterMs);
  if (due !== null && env.now >= due) d.emit({ type: 'job-stuck', v: JOB_EVENT_VERSION, at: env.now, since: state.updatedAt, stuckAfterMs });
  return d;
}
