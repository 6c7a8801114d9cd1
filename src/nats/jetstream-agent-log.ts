/**
 * AgentLog on JetStream: one subject per agent session (log.agent.<token>)
 * in the stream LOOM_AGENT_LOG, one event per message, appended with the
 * expected-last-subject-sequence fencing of fenced-subject-log.ts. The same
 * reader serves replays in the actor and event resumption at the edges
 * (SSE, /ws), as an EventLogReader (src/events/).
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { AgentLogFencingError, type AgentLog, type AgentLogEntry } from '../../actors/agent/index.ts';
import { parseActorId } from '../../protocol/ids.ts';
import { AGENT_LOG_STREAM, agentLogSubject } from '../../protocol/subjects.ts';
import type { Logger } from '../log.ts';
import { FencedSubjectLog, type SubjectLogTarget } from './fenced-subject-log.ts';

/** @throws {Error} from parseActorId when the id is not a valid actor id. */
function sessionLog(id: string): SubjectLogTarget {
  return { subject: agentLogSubject(parseActorId(id)), label: `agent session ${id}`, bindings: { sessionId: id } };
}

export class JetStreamAgentLog implements AgentLog {
  private readonly log: FencedSubjectLog;

  constructor(
    nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    opts: { timeoutMs: number; logger: Logger },
  ) {
    this.log = new FencedSubjectLog(nc, jsm, { stream: AGENT_LOG_STREAM, ...opts });
  }

  /** @throws AgentLogFencingError when another owner appended since `expectedLastSeq`. */
  append(id: string, body: Uint8Array, expectedLastSeq: number): Promise<number> {
    return this.log.append(sessionLog(id), body, expectedLastSeq, (cause) => new AgentLogFencingError(id, expectedLastSeq, { cause }));
  }

  /** The session's last entry, or null when the session does not exist. */
  async last(id: string): Promise<AgentLogEntry | null> {
    const entry = await this.log.last(agentLogSubject(parseActorId(id)));
    return entry === null ? null : { seq: entry.seq, body: entry.data };
  }

  /**
   * The session's first entry (its session-started event, which names the
   * owner), or null (one message read, not a consumer).
   */
  async first(id: string, signal?: AbortSignal): Promise<AgentLogEntry | null> {
    const msg = await this.log.first(agentLogSubject(parseActorId(id)), signal);
    return msg === null ? null : { seq: msg.seq, body: msg.data };
  }

  async *readAfter(id: string, afterSeq: number, signal?: AbortSignal, limit = Infinity): AsyncIterable<AgentLogEntry> {
    for await (const m of this.log.readAfter(sessionLog(id), afterSeq, signal, limit)) yield { seq: m.seq, body: m.data };
  }

  /**
   * Removes every event of a session (account deletion, retention). An actor
   * still holding it in memory is fenced out by its next append.
   * @returns how many events were removed.
   */
  async remove(id: string): Promise<number> {
    const { purged } = await this.jsm.streams.purge(AGENT_LOG_STREAM, { filter: agentLogSubject(parseActorId(id)) });
    return purged;
  }
}
