/** Who owns an agent session, read from its first log entry (session-started) without activating it. */
import { decodeAgentEntry } from '../../protocol/agent-events.ts';
import type { EventLogReader } from '../events/index.ts';
import { BoundedMap } from '../limits/bounded-map.ts';

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

/** How many session owners a process remembers; each is two short strings. */
const REMEMBERED_OWNERS = 10_000;

/**
 * The owners of the sessions this process has checked. A session's owner is
 * in its first log entry, which never changes, so an owner once found is
 * kept (bounded) and the check of every later request to that session costs
 * no read of the log. "Does not exist" is not kept: the session may be made
 * a moment later. A session is deleted only with its owner's account, whose
 * tokens stop working then, so a remembered owner never lets anyone else in.
 */
export class AgentSessionOwners {
  private readonly known: BoundedMap<string, string>;

  constructor(
    private readonly log: Pick<AgentLogReader, 'first'>,
    max = REMEMBERED_OWNERS,
  ) {
    this.known = new BoundedMap(max);
  }

  /** Keeps an owner learnt elsewhere (a reader of the log that met the session-started event). */
  remember(sessionId: string, ownerId: string): void {
    this.known.set(sessionId, ownerId);
  }

  /** The owner of `sessionId`, or null when the session does not exist; throws as agentSessionOwner does. */
  async of(sessionId: string, signal?: AbortSignal): Promise<string | null> {
    const remembered = this.known.get(sessionId);
    if (remembered !== undefined) return remembered;
    const owner = await agentSessionOwner(this.log, sessionId, signal);
    if (owner !== null) this.known.set(sessionId, owner);
    return owner;
  }
}
