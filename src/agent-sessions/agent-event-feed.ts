/**
 * Follows one agent session's events for a client (SSE, /ws `agent:<id>`):
 * the generic follower of src/events/ over the session's log. A session has
 * no terminal event (it takes messages for as long as it exists), so a feed
 * ends only when the client leaves or falls behind. Model token deltas
 * (`token`) and status changes (`status`) are live only, without a sequence.
 */
import { readOwnAgentEvent, type AgentEvent } from '../../protocol/agent-events.ts';
import { AGENT_STATUS_EVENT, AGENT_TOKEN_EVENT, agentStatusEventSchema, type AgentStatusEvent } from '../../protocol/agent.ts';
import { checkVersion } from '../../protocol/headers.ts';
import { decodeTokenDelta, type TokenDelta } from '../../protocol/inference.ts';
import { decodeJson } from '../../protocol/reply.ts';
import { followActorEvents, type EventFeedDeps, type EventLogReader, type EventSource, type FeedEnd, type FeedItem } from '../events/index.ts';
import { agentEventLog } from './agent-event-log.ts';

/** A live-only item: a model token delta or a status change. */
export type AgentLiveItem = { readonly type: 'token'; readonly token: TokenDelta } | { readonly type: 'status'; readonly status: AgentStatusEvent };

export type AgentFeedItem = FeedItem<AgentEvent, AgentLiveItem>;

export interface AgentEventFeedDeps extends EventFeedDeps {
  readonly log: EventLogReader;
}

/** Agent sessions as the generic follower sees them; `log` reads whole entries. */
export function agentEventSource(log: EventLogReader): EventSource<AgentEvent, AgentLiveItem> {
  return {
    kind: 'agent',
    log: agentEventLog(log),
    // The actor is the only writer of both the log and the live events: a cheap check suffices.
    decode: readOwnAgentEvent,
    isTerminal: () => false,
    decodeLive: (name, message) => {
      if (name === AGENT_TOKEN_EVENT) return { type: 'token', token: decodeTokenDelta(message) };
      if (name === AGENT_STATUS_EVENT) {
        checkVersion(message.headers);
        return { type: 'status', status: decodeJson(message.body, agentStatusEventSchema, 'agent status event') };
      }
      return undefined;
    },
  };
}

/**
 * Starts following; returns once the subscription is live (the replay continues in the background).
 * @throws when the subscription cannot be confirmed in time.
 */
export function followAgentEvents(
  deps: AgentEventFeedDeps,
  sessionId: string,
  opts: { afterSeq: number; signal: AbortSignal; maxBuffered?: number; onItem: (item: AgentFeedItem) => void; onEnd: (why: FeedEnd, err?: unknown) => void },
): Promise<void> {
  return followActorEvents(deps, agentEventSource(deps.log), sessionId, opts);
}
