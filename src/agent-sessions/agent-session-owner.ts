/** Who owns an agent session, read from its first log entry (session-started) without activating it. */
import { decodeAgentEntry } from '../../protocol/agent-events.ts';
import type { EventLogReader } from '../events/index.ts';
import { RememberedOwners } from '../events/remembered-owners.ts';

/** What the gateway reads of session logs: the follower's reads, and the first entry for its owner. */
export interface AgentLogReader extends EventLogReader {
  /** The session's first entry (session-started), or null when it does not exist. */
  first(id: string, signal?: AbortSignal): Promise<{ readonly seq: number; readonly body: Uint8Array } | null>;
}

/** Thrown when a session's log does not start with its session-started event. */
export class NotAgentSessionLogError extends Error {
  override readonly name = 'NotAgentSessionLogError';
}

/**
 * The owner of a session, or null when the session does not exist.
 * @throws NotAgentSessionLogError when its first entry is not a session-started event; an Error when the log cannot be read.
 */
export async function agentSessionOwner(log: Pick<AgentLogReader, 'first'>, sessionId: string, signal?: AbortSignal): Promise<string | null> {
  const first = await log.first(sessionId, signal);
  if (first === null) return null;
  const event = decodeAgentEntry(first.body)[0];
  if (event?.type !== 'session-started') throw new NotAgentSessionLogError(`log of agent session ${sessionId} starts with ${event?.type ?? 'nothing'}, not session-started`);
  return event.ownerId;
}

/** The owners of the sessions this process has checked (see RememberedOwners). */
export class AgentSessionOwners extends RememberedOwners {
  constructor(log: Pick<AgentLogReader, 'first'>, max?: number) {
    super((sessionId, signal) => agentSessionOwner(log, sessionId, signal), max);
  }
}
