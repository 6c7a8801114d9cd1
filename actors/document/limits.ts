/** Limits and compaction policy of one document; defaults come from config. */
export interface DocumentLimits {
  /** Largest single update accepted, in bytes. */
  readonly maxUpdateBytes: number;
  /** Largest document, measured as last snapshot size plus updates appended since. */
  readonly maxDocumentBytes: number;
  /** Snapshot after this many appended updates... */
  readonly snapshotEveryUpdates: number;
  /** ...or after this many appended bytes, whichever comes first. */
  readonly snapshotEveryBytes: number;
}
