/**
 * agent-sessions/: the gateway's side of agent sessions (the actor is in
 * actors/agent/, its tools in src/agents/): reading session logs, owners and
 * event feeds for HTTP and /ws, session ids as the gateway mints them.
 */
export { agentEventSource, followAgentEvents, type AgentEventFeedDeps, type AgentFeedItem, type AgentLiveItem } from './agent-event-feed.ts';
export { agentSessionOwner, AgentSessionOwners, NotAgentSessionLogError, type AgentLogReader } from './agent-session-owner.ts';
