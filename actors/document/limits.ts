/** Limits and compaction policy of one document; defaults come from config. */
export interface DocumentLimits {
  /** Largest single update accepted, in bytes. */
  readonly maxUpdateBytes: number;
  /** Largest document, measured as last snapshot size plus updates appended since. */
  readonly maxDocumentBytes: number;
  /** Largest single log append (the NATS server's max payload minus headroom); batches are split to fit. */
  readonly maxAppendBytes: number;
  /** Snapshot after this many appended updates... */
  readonly snapshotEveryUpdates: number;
  /** ...or after this many appended bytes, whichever comes first. */
  readonly snapshotEveryBytes: number;
  /** Presence bounds; absent: DEFAULT_PRESENCE_LIMITS. */
  readonly presence?: PresenceLimits;
}

/** Bounds on a document's presence (awareness); see presence.ts. */
export interface PresenceLimits {
  /** Largest JSON state of one client, in UTF-8 bytes. */
  readonly maxStateBytes: number;
  /** All presence of the document (states plus a small per-client overhead); keeps every snapshot within one message. */
  readonly maxDocumentBytes: number;
  /** Presence changes one connection may make per second, sustained... */
  readonly ratePerSec: number;
  /** ...and in a burst. Echoes of other clients' states do not count. */
  readonly rateBurst: number;
}

/** The defaults of LOOM_PRESENCE_* (config.ts). */
export const DEFAULT_PRESENCE_LIMITS: PresenceLimits = {
  maxStateBytes: 8 * 1024,
  maxDocumentBytes: 256 * 1024,
  ratePerSec: 30,
  rateBurst: 90,
};
