/** The `agent` actor kind: an activation replays the session's log, then recovers in-flight work as its first message. */
import type { ActorDefinition } from '../actor.ts';
import { agentEventId, decodeAgentEntry } from '../../protocol/agent-events.ts';
import { AgentActor, type AgentActorDeps } from './agent-actor.ts';
import { emptyAgentState, evolve, trimTranscript, type AgentState } from './state.ts';

export type { AgentActorDeps } from './agent-actor.ts';

/**
 * Folds a session's whole log. `trim`: keep only the transcript a live
 * session needs (trimTranscript), not every entry (an account export needs all).
 * @throws when the log cannot be read or holds an event the fold refuses.
 */
export async function replayAgentSession(id: string, deps: Pick<AgentActorDeps, 'log'>, signal?: AbortSignal, opts?: { readonly trim: boolean }): Promise<AgentState> {
  let state = emptyAgentState(id);
  let trimmedLength = 0;
  for await (const entry of deps.log.readAfter(id, 0, signal)) {
    decodeAgentEntry(entry.body).forEach((event, i) => {
      // Each state is dropped for the next: the fold may append to the transcript in place.
      state = evolve(state, event, agentEventId(entry.seq, i), { consume: true });
    });
    // Trimmed whenever the transcript doubled: memory stays bounded and the copies add up to linear time.
    if (opts?.trim === true && state.transcript.length >= 2 * trimmedLength + 64) {
      state = trimTranscript(state);
      trimmedLength = state.transcript.length;
    }
  }
  return opts?.trim === true ? trimTranscript(state) : state;
}

export function agentActorDefinition(deps: AgentActorDeps): ActorDefinition {
  return {
    kind: 'agent',
    async activate(ctx) {
      const started = Date.now();
      const state = await replayAgentSession(ctx.id, deps, ctx.signal, { trim: true });
      ctx.log.info({ lastSeq: state.lastSeq, turns: state.turnCount, ms: Date.now() - started }, 'agent session recovered');
      const actor = new AgentActor(ctx, state, deps);
      // Recovery runs as the first mailbox message, in order with whatever arrives next.
      if (state.started !== null) ctx.schedule(0, 'recover');
      return actor;
    },
  };
}
