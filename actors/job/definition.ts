/** The `job` actor kind: an activation replays the job's log, then recovers in-flight work as its first message. */
import type { ActorDefinition } from '../actor.ts';
import { decodeJobEvent } from '../../protocol/job-events.ts';
import { JobActor, type JobActorDeps } from './job-actor.ts';
import { emptyJobState, evolve, type JobState } from './state.ts';

export type { JobActorDeps } from './job-actor.ts';

/** Folds a job's whole log. @throws when the log cannot be read or holds an event the fold refuses. */
export async function replayJob(id: string, deps: Pick<JobActorDeps, 'log'>, signal?: AbortSignal): Promise<JobState> {
  let state = emptyJobState(id);
  for await (const entry of deps.log.readAfter(id, 0, signal)) state = evolve(state, decodeJobEvent(entry.body), entry.seq);
  return state;
}

export function jobActorDefinition(deps: JobActorDeps): ActorDefinition {
  return {
    kind: 'job',
    async activate(ctx) {
      const started = Date.now();
      const state = await replayJob(ctx.id, deps, ctx.signal);
      // A new job's activation (an empty log) is routine: only a job with a past is worth a line at info.
      const fields = { lastSeq: state.lastSeq, status: state.created === null ? 'none' : state.status, ms: Date.now() - started };
      if (state.created === null) ctx.log.debug(fields, 'job activated');
      else ctx.log.info(fields, 'job recovered');
      const actor = new JobActor(ctx, state, deps);
      // Recovery runs as the first mailbox message, in order with whatever arrives next.
      if (state.created !== null) ctx.schedule(0, 'recover');
      return actor;
    },
  };
}
