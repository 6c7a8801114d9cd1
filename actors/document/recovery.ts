/**
 * Rebuilds a document: the newest snapshot, then every log entry after it.
 * Replaying an entry the snapshot already covers is harmless (Yjs merges are
 * idempotent), which keeps recovery simple.
 */
import * as Y from 'yjs';
import type { DocId } from '../../protocol/ids.ts';
import type { DocumentLog, SnapshotStore } from './ports.ts';

export interface RecoveredDocument {
  readonly doc: Y.Doc;
  /** Seq of the log's last entry: the fencing base for the next append. */
  readonly lastSeq: number;
  /** Seq the newest snapshot covers (0 = none). */
  readonly snapshotSeq: number;
  readonly snapshotBytes: number;
  readonly replayedUpdates: number;
  readonly replayedBytes: number;
}

export async function recoverDocument(id: DocId, log: DocumentLog, snapshots: SnapshotStore): Promise<RecoveredDocument> {
  const doc = new Y.Doc({ gc: true });
  const snapshot = await snapshots.latest(id);
  if (snapshot !== null) Y.applyUpdate(doc, snapshot.state);
  let seq = snapshot?.seq ?? 0;
  let replayedUpdates = 0;
  let replayedBytes = 0;
  for await (const entry of log.readAfter(id, seq)) {
    Y.applyUpdate(doc, entry.update);
    seq = entry.seq;
    replayedUpdates++;
    replayedBytes += entry.update.length;
  }
  // After compaction the log may be empty past the snapshot; fencing uses the log's own last seq.
  const lastSeq = await log.lastSeq(id);
  if (lastSeq > seq) throw new Error(`log of document ${id} grew during recovery (${seq} -> ${lastSeq}); another writer is active`);
  return {
    doc,
    lastSeq,
    snapshotSeq: snapshot?.seq ?? 0,
    snapshotBytes: snapshot?.state.length ?? 0,
    replayedUpdates,
    replayedBytes,
  };
}
