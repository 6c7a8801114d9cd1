/**
 * Outbound events from the agent-session log (LOOM_AGENT_LOG,
 * protocol/agent-events.ts): `turn-completed` -> `agent.turn.completed`,
 * told to the session's owner, orderKey `agent:<id>`, id from (session, log
 * seq and the event's index in the entry, as clients number agent events).
 * The owner comes from the session-started event, cached, or read back
 * from the session's first log entry.
 */
import { agentEventId, decodeAgentEntry, mayHoldAgentEvent, type AgentEvent, type AgentEventType } from '../../protocol/agent-events.ts';
import { eventLinks, LOOM_EVENT_TYPES, orderKeys } from '../../protocol/outbound-event-types.ts';
import type { OutboundEvent } from '../../protocol/outbound-events.ts';
import { AGENT_LOG_STREAM, parseAgentLogSubject } from '../../protocol/subjects.ts';
import { AgentSessionOwners, NotAgentSessionLogError, type AgentLogReader } from '../agent-sessions/index.ts';
import type { Logger } from '../log.ts';
import { logEventId } from './event-id.ts';
import type { LogEntry, LogEventSource } from './log-relay.ts';

/** The only events this source reads: the rest of an entry is passed over. */
const READ_TYPES: readonly AgentEventType[] = ['session-started', 'turn-completed'];

export class AgentLogSource implements LogEventSource {
  readonly name = 'agent-log';
  readonly stream = AGENT_LOG_STREAM;
  /** Owners never change, so what was learnt survives a reset. */
  private readonly owners: AgentSessionOwners;

  constructor(
    agentLog: Pick<AgentLogReader, 'first'>,
    private readonly log: Logger,
  ) {
    this.owners = new AgentSessionOwners(agentLog);
  }

  reset(): void {
    // Nothing is held back: a restart re-reads from the cursor, and the owners stay true.
  }

  async onEntry(entry: LogEntry): Promise<OutboundEvent[]> {
    // Most entries (a step's tool and model calls) hold neither: skip zod's
    // check of them (2.7% of an actors host's CPU under the agent benchmark).
    // Such an entry, even a malformed one, could give no outbound event.
    if (!mayHoldAgentEvent(entry.data, READ_TYPES)) return [];
    let sessionId: string;
    let events: AgentEvent[];
    try {
      sessionId = parseAgentLogSubject(entry.subject);
      events = decodeAgentEntry(entry.data);
    } catch (err) {
      // The session actor is the log's only writer; an entry it could not have written is logged and passed over.
      this.log.error({ err, subject: entry.subject, seq: entry.seq }, 'agent log entry unreadable; no outbound event for it');
      return [];
    }
    const out: OutboundEvent[] = [];
    for (const [index, event] of events.entries()) {
      if (event.type === 'session-started') this.owners.remember(sessionId, event.ownerId);
      if (event.type !== 'turn-completed') continue;
      const owner = await this.ownerOf(sessionId);
      if (owner === null) {
        this.log.warn({ sessionId, seq: entry.seq }, 'agent log has no session-started entry (removed?); no outbound event');
        continue;
      }
      const type = LOOM_EVENT_TYPES.agentTurnCompleted;
      out.push({
        // An entry holds several events; the event id clients see (seq and index) names this one.
        id: logEventId('agent', sessionId, agentEventId(entry.seq, index), type),
        type,
        timestamp: new Date(event.at).toISOString(),
        ownerIds: [owner],
        orderKey: orderKeys.agentSession(sessionId),
        data: { sessionId, turnId: event.turnId, status: event.status, link: eventLinks.agentSession(sessionId) },
      });
    }
    return out;
  }

  /** Remembered, else from the session's first log entry; null when there is no session-started event to name one. */
  private async ownerOf(sessionId: string): Promise<string | null> {
    try {
      return await this.owners.of(sessionId);
    } catch (err) {
      if (err instanceof NotAgentSessionLogError) return null;
      throw err;
    }
  }
}
