/**
 * What the document actor needs from the outside world, declared here by the
 * consumer and implemented by adapters in src/ (JetStream log, Postgres
 * snapshots). The actor never sees NATS or SQL.
 */
import type { DocId } from '../../protocol/ids.ts';

/** One durable entry of a document's update log. */
export interface LogEntry {
  /** Position in the log; strictly increasing per document, starting at 1. */
  readonly seq: number;
  /** A Yjs update (v1 encoding). */
  readonly update: Uint8Array;
  /** Who wrote it (a Loom-Author value); absent: unknown. Replaying the entry records the same attribution again. */
  readonly author?: string | undefined;
  /** An explicit attribution record (attribution-record.ts) for entries one author does not describe (reverts). */
  readonly attribution?: Uint8Array | undefined;
}

/** What a log entry says about its update besides the bytes (see LogEntry). */
export interface EntryAttribution {
  readonly author?: string | undefined;
  readonly attribution?: Uint8Array | undefined;
}

/** What an append carries besides the update: its attribution, and for a log that announces its entries, the connection it came from. */
export interface AppendMeta extends EntryAttribution {
  /** The one connection the entry's updates came from (Loom-Origin), so its gateway does not echo them back; a log that does not announce its entries drops it. */
  readonly origin?: string | undefined;
}

/** The durable, per-document, append-only update log. */
export interface DocumentLog {
  /**
   * True when the log itself publishes each appended entry as the document's
   * `update` event, with the entry's sequences and origin (the JetStream log
   * with its stream's republish rule): the actor then only hands the update
   * to rooms in its own process.
   */
  readonly announcesUpdates?: boolean;
  /**
   * Appends an update if the document's last entry still is `expectedLastSeq`
   * (0 = no entry yet). That check fences a stale owner out.
   * `meta` travels with the entry and comes back from readAfter.
   * @returns the new entry's seq.
   * @throws FencingError when another writer appended meanwhile.
   */
  append(id: DocId, update: Uint8Array, expectedLastSeq: number, meta?: AppendMeta): Promise<number>;
  /** Entries with seq > afterSeq in order, up to the log's current end. */
  readAfter(id: DocId, afterSeq: number): AsyncIterable<LogEntry>;
  /** Seq of the document's last entry, or 0 when its log is empty. */
  lastSeq(id: DocId): Promise<number>;
  /** Drops entries with seq < `seq` (the entry at `seq` itself is kept). */
  truncateBefore(id: DocId, seq: number): Promise<void>;
  /** Drops every entry of the document (used when a document is deleted). */
  remove(id: DocId): Promise<void>;
}

/** Full document state covering the log up to and including `seq`. */
export interface Snapshot {
  readonly seq: number;
  readonly state: Uint8Array;
  /** The document's attribution record at the same instant (absent in snapshots older than attribution). */
  readonly attribution?: Uint8Array | undefined;
}

/** Where compaction writes full document states. */
export interface SnapshotStore {
  /** The newest snapshot, or null when the document has none. */
  latest(id: DocId): Promise<Snapshot | null>;
  /** The snapshot covering exactly `seq`, or null when there is none (never taken, or pruned). */
  get(id: DocId, seq: number): Promise<Snapshot | null>;
  /** Stores a snapshot; older snapshots of the document may be pruned. */
  save(id: DocId, snapshot: Snapshot): Promise<void>;
  /** Deletes every snapshot of the document. */
  remove(id: DocId): Promise<void>;
}

/**
 * Which documents were deleted. A deleted document's actor activates empty
 * and answers `not-found`, so a late message can never recreate its log.
 */
export interface DocumentDirectory {
  /** Whether the document was deleted (unknown documents are not). */
  isDeleted(id: DocId): Promise<boolean>;
  /** Whether POST /v1/docs ever registered the id (deleted documents included). */
  isRegistered(id: DocId): Promise<boolean>;
}

/** Thrown by DocumentLog.append when the expected last seq no longer holds. */
export class FencingError extends Error {
  override readonly name = 'FencingError';
  readonly code = 'not-owner';
  constructor(
    readonly docId: DocId,
    readonly expectedLastSeq: number,
    options?: { cause?: unknown },
  ) {
    super(`document ${docId} log moved past seq ${expectedLastSeq}: another owner wrote to it`, options);
  }
}
