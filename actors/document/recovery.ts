/**
 * Rebuilds a document: the newest snapshot, then every log entry after it.
 * Replaying an entry the snapshot already covers is harmless (Yjs merges are
 * idempotent), which keeps recovery simple. Attribution is rebuilt beside
 * it (attribution.ts): the snapshot's record first, then each entry applied
 * as its author, or with its explicit record.
 */
import * as Y from 'yjs';
import { isAuthor } from '../../protocol/attribution.ts';
import type { DocId } from '../../protocol/ids.ts';
import { AttributionRecord } from './attribution-record.ts';
import { Attribution } from './attribution.ts';
import type { DocumentLog, SnapshotStore } from './ports.ts';

export interface RecoveredDocument {
  readonly doc: Y.Doc;
  /** Who wrote what; records the doc's transactions from now on. */
  readonly attribution: Attribution;
  /** Seq of the log's last entry: the fencing base for the next append. */
  readonly lastSeq: number;
  /** Seq the newest snapshot covers (0 = none). */
  readonly snapshotSeq: number;
  readonly snapshotBytes: number;
  readonly replayedUpdates: number;
  readonly replayedBytes: number;
  /** The log's last entry when recovery replayed it: its broadcast may have died with the previous owner. */
  readonly lastEntryUpdate?: Uint8Array | undefined;
}

/**
 * An attribution record read from storage, or null. Attribution is secondary
 * to the text: an unreadable record (e.g. written by a newer version) leaves
 * the text it covers `unknown` instead of keeping the document from loading.
 */
function readRecord(bytes: Uint8Array | undefined, warn: (err: unknown, what: string) => void, what: string): AttributionRecord | null {
  if (bytes === undefined || bytes.length === 0) return null;
  try {
    return AttributionRecord.decode(bytes);
  } catch (err) {
    warn(err, what);
    return null;
  }
}

export async function recoverDocument(
  id: DocId,
  log: DocumentLog,
  snapshots: SnapshotStore,
  warn: (err: unknown, what: string) => void = () => undefined,
): Promise<RecoveredDocument> {
  const attribution = new Attribution();
  const doc = attribution.createDoc();
  const snapshot = await snapshots.latest(id);
  // The snapshot's record comes first, so the GC keeps what it says is restorable.
  if (snapshot !== null) attribution.withRecord(readRecord(snapshot.attribution, warn, `attribution of snapshot ${snapshot.seq}`), () => Y.applyUpdate(doc, snapshot.state));
  let seq = snapshot?.seq ?? 0;
  let replayedUpdates = 0;
  let replayedBytes = 0;
  let lastEntryUpdate: Uint8Array | undefined;
  for await (const entry of log.readAfter(id, seq)) {
    if (entry.attribution !== undefined) {
      attribution.withRecord(readRecord(entry.attribution, warn, `attribution of log entry ${entry.seq}`), () => Y.applyUpdate(doc, entry.update));
    } else {
      const author = entry.author !== undefined && isAuthor(entry.author) ? entry.author : undefined;
      attribution.as(author, () => Y.applyUpdate(doc, entry.update));
    }
    seq = entry.seq;
    lastEntryUpdate = entry.update;
    replayedUpdates++;
    replayedBytes += entry.update.length;
  }
  // After compaction the log may be empty past the snapshot; fencing uses the log's own last seq.
  const lastSeq = await log.lastSeq(id);
  if (lastSeq > seq) throw new Error(`log of document ${id} grew during recovery (${seq} -> ${lastSeq}); another writer is active`);
  return {
    doc,
    attribution,
    lastSeq,
    snapshotSeq: snapshot?.seq ?? 0,
    snapshotBytes: snapshot?.state.length ?? 0,
    replayedUpdates,
    replayedBytes,
    lastEntryUpdate: lastSeq === seq ? lastEntryUpdate : undefined,
  };
}
