/**
 * What the agent-session actor needs from the outside world, declared here
 * by the consumer and implemented by adapters in src/ (JetStream log,
 * inference queue, PostgreSQL projection). Tools are the ToolRunner port of
 * tool.ts. The actor never sees NATS or SQL.
 */
import type { AgentStatus, AgentUsage } from '../../protocol/agent.ts';
import type { AgentModelCall } from './effects.ts';

/** One durable entry of a session's event log: the events of one decision. */
export interface AgentLogEntry {
  /** Position in the log; strictly increasing per session. Its events' ids derive from it (agentEventId). */
  readonly seq: number;
  /** The encoded events (encodeAgentEntry, protocol/agent-events.ts). */
  readonly body: Uint8Array;
}

/** The durable, per-session, append-only event log. */
export interface AgentLog {
  /**
   * Appends an encoded entry if the session's last entry still is `expectedLastSeq` (0 = none yet).
   * @returns the new entry's seq.
   * @throws AgentLogFencingError when another writer appended meanwhile.
   */
  append(id: string, body: Uint8Array, expectedLastSeq: number): Promise<number>;
  /** Entries with seq > afterSeq in order, up to the log's end when called. */
  readAfter(id: string, afterSeq: number, signal?: AbortSignal): AsyncIterable<AgentLogEntry>;
}

/** Thrown by AgentLog.append when the expected last seq no longer holds. */
export class AgentLogFencingError extends Error {
  override readonly name = 'AgentLogFencingError';
  readonly code = 'not-owner';
  constructor(
    readonly sessionId: string,
    readonly expectedLastSeq: number,
    options?: { cause?: unknown },
  ) {
    super(`log of agent session ${sessionId} moved past seq ${expectedLastSeq}: another owner wrote to it`, options);
  }
}

/** The inference work queue, as a session uses it. */
export interface AgentInferenceQueue {
  /**
   * Enqueues a model call; resubmitting the same requestId is deduplicated by
   * the queue. The result comes back as the session's `inference-result`
   * command, token deltas as its `token` event.
   */
  submit(sessionId: string, call: AgentModelCall): Promise<void>;
  /** Asks workers to stop a call (best effort; a result may still arrive and is then ignored). */
  cancel(requestId: string): Promise<void>;
}

/** The row of a session in the query projection, as of `lastSeq`. */
export interface AgentProjectionRecord {
  readonly id: string;
  readonly ownerId: string;
  readonly status: AgentStatus;
  /** A turn is in flight: the session must be live on some host (the supervisor's query). */
  readonly needsHost: boolean;
  readonly model: string;
  readonly docId: string | null;
  readonly title: string | null;
  readonly turns: number;
  readonly usage: AgentUsage;
  readonly lastSeq: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Where sessions are projected for queries. Writes are idempotent and ordered by lastSeq. */
export interface AgentProjection {
  save(record: AgentProjectionRecord): Promise<void>;
}

