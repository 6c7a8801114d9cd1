/**
 * Outbound events from the agent-session log (LOOM_AGENT_LOG,
 * protocol/agent-events.ts): `turn-completed` -> `agent.turn.completed`,
 * told to the session's owner, orderKey `agent:<id>`, id from (session, log
 * seq). The owner comes from the session-started entry, cached, or read
 * back from the session's log.
 */
import { decodeAgentEvent, type AgentEvent } from '../../protocol/agent-events.ts';
import { eventLinks, LOOM_EVENT_TYPES, orderKeys } from '../../protocol/outbound-event-types.ts';
import type { OutboundEvent } from '../../protocol/outbound-events.ts';
import { AGENT_LOG_STREAM, parseAgentLogSubject } from '../../protocol/subjects.ts';
import { agentSessionOwner, type AgentLogReader } from '../agent-sessions/index.ts';
import type { Logger } from '../log.ts';
import { BoundedMap } from './bounded-map.ts';
import { logEventId } from './event-id.ts';
import type { LogEntry, LogEventSource } from './log-relay.ts';

export class AgentLogSource implements LogEventSource {
  readonly name = 'agent-log';
  readonly stream = AGENT_LOG_STREAM;
  private readonly owners = new BoundedMap<string, string>(10_000);

  constructor(
    private readonly agentLog: Pick<AgentLogReader, 'first'>,
    private readonly log: Logger,
  ) {}

  reset(): void {
    this.owners.clear();
  }

  async onEntry(entry: LogEntry): Promise<OutboundEvent[]> {
    let sessionId: string;
    let event: AgentEvent;
    try {
      sessionId = parseAgentLogSubject(entry.subject);
      event = decodeAgentEvent(entry.data);
    } catch (err) {
      // The session actor is the log's only writer; an entry it could not have written is logged and passed over.
      this.log.error({ err, subject: entry.subject, seq: entry.seq }, 'agent log entry unreadable; no outbound event for it');
      return [];
    }
    if (event.type === 'session-started') this.owners.set(sessionId, event.ownerId);
    if (event.type !== 'turn-completed') return [];
    let owner = this.owners.get(sessionId) ?? null;
    if (owner === null) {
      owner = await agentSessionOwner(this.agentLog, sessionId);
      if (owner !== null) this.owners.set(sessionId, owner);
    }
    if (owner === null) {
      this.log.warn({ sessionId, seq: entry.seq }, 'agent log has no session-started entry (removed?); no outbound event');
      return [];
    }
    const type = LOOM_EVENT_TYPES.agentTurnCompleted;
    return [
      {
        id: logEventId('agent', sessionId, entry.seq, type),
        type,
        timestamp: new Date(event.at).toISOString(),
        ownerIds: [owner],
        orderKey: orderKeys.agentSession(sessionId),
        data: { sessionId, turnId: event.turnId, status: event.status, link: eventLinks.agentSession(sessionId) },
      },
    ];
  }
}
