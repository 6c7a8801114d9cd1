/**
 * Compaction policy: after enough updates or bytes, write the full state as a
 * snapshot covering the log up to its last seq, then truncate the log before
 * that seq. Runs beside the mailbox (the state is encoded synchronously, the
 * writes are awaited in the background), one snapshot at a time. A failed
 * snapshot keeps the counters, so the next append tries again.
 */
import * as Y from 'yjs';
import type { Logger } from 'pino';
import type { DocId } from '../../protocol/ids.ts';
import type { DocumentLimits } from './limits.ts';
import type { DocumentLog, SnapshotStore } from './ports.ts';

export class Compactor {
  private updatesSince: number;
  private bytesSince: number;
  private inFlight: Promise<void> | undefined;
  private snapshotBytes: number;
  /** Seq the newest stored snapshot covers. */
  snapshotSeq: number;

  constructor(
    private readonly id: DocId,
    private readonly deps: {
      log: DocumentLog;
      snapshots: SnapshotStore;
      limits: DocumentLimits;
      logger: Logger;
      /** The document's attribution record, stored with each snapshot (attribution.ts). */
      encodeAttribution?: () => Uint8Array;
    },
    start: { snapshotSeq: number; snapshotBytes: number; updatesSince: number; bytesSince: number },
  ) {
    this.snapshotSeq = start.snapshotSeq;
    this.snapshotBytes = start.snapshotBytes;
    this.updatesSince = start.updatesSince;
    this.bytesSince = start.bytesSince;
  }

  /** Approximate document size: last snapshot plus everything appended since. */
  get approxDocumentBytes(): number {
    return this.snapshotBytes + this.bytesSince;
  }

  /** Records an append and starts a snapshot when a threshold is crossed. */
  afterAppend(doc: Y.Doc, lastSeq: number, bytes: number): void {
    this.updatesSince++;
    this.bytesSince += bytes;
    const { snapshotEveryUpdates, snapshotEveryBytes } = this.deps.limits;
    if (this.inFlight === undefined && (this.updatesSince >= snapshotEveryUpdates || this.bytesSince >= snapshotEveryBytes)) {
      this.inFlight = this.snapshot(doc, lastSeq)
        .catch((err: unknown) => this.deps.logger.warn({ err, seq: lastSeq }, 'snapshot failed; will retry'))
        .finally(() => {
          this.inFlight = undefined;
        });
    }
  }

  /** Waits for a running snapshot, if any, to finish (its failure is already logged). */
  async settle(): Promise<void> {
    await this.inFlight;
  }

  /**
   * Waits for a running snapshot, then writes a final one if anything is not covered.
   * @throws when the snapshot cannot be written.
   */
  async flush(doc: Y.Doc, lastSeq: number): Promise<void> {
    await this.inFlight;
    if (lastSeq > this.snapshotSeq) await this.snapshot(doc, lastSeq);
  }

  private async snapshot(doc: Y.Doc, seq: number): Promise<void> {
    // Encoded at the same instant as the state, so the two always describe the same items.
    const state = Y.encodeStateAsUpdate(doc);
    const attribution = this.deps.encodeAttribution?.();
    const updates = this.updatesSince;
    const bytes = this.bytesSince;
    await this.deps.snapshots.save(this.id, { seq, state, attribution });
    this.snapshotSeq = seq;
    this.snapshotBytes = state.length;
    this.updatesSince -= updates;
    this.bytesSince -= bytes;
    // The snapshot is durable: the log before it is no longer needed for recovery.
    await this.deps.log.truncateBefore(this.id, seq);
    this.deps.logger.debug({ seq, bytes: state.length }, 'snapshot written, log truncated');
  }
}
