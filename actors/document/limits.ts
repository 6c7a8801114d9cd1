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
}
