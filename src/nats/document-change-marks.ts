/**
 * Change marks of the documents active on this host (docChangeMarkSubject in
 * protocol/subjects.ts). With a document's first update of each window, one
 * mark goes to the document log stream, sent just before the update on the
 * same connection; the update counts as appended only once its mark is
 * stored too. The doc.updated relay follows the marks instead of every update: at
 * one edit a second per client that was a second delivery of every update,
 * about a tenth of the server's CPU under collaborative load.
 *
 * Why nothing is missed: the relay closes a mark's window no earlier than
 * `debounceMs` after the mark was stored and then reads the document's last
 * update, and this host marks again at least every `debounceMs / 2` while
 * the document keeps changing, so an update stored after that read has a
 * mark of its own (given host clocks within `debounceMs / 2` of each other).
 * A mark is never needed twice: repeats (a document that moved host, a host
 * that restarted) only open a window early.
 */
import type { DocId } from '../../protocol/ids.ts';

/** Above this many remembered documents, those whose mark has expired are forgotten. */
const FIRST_SWEEP_ABOVE = 1_024;

export class DocumentChangeMarks {
  private readonly markedAt = new Map<DocId, number>();
  private readonly writing = new Map<DocId, Promise<void>>();
  private readonly everyMs: number;
  /** Doubles past what a sweep left, so sweeping stays O(1) per mark however many documents are busy. */
  private sweepAbove = FIRST_SWEEP_ABOVE;

  constructor(
    private readonly write: (id: DocId) => Promise<void>,
    debounceMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.everyMs = Math.floor(debounceMs / 2);
  }

  /**
   * Resolves once the document's current window has a mark: undefined when
   * it has one already (the common case, no promise made).
   * @throws (the promise) when the mark could not be stored: the update must not be appended either
   */
  beforeUpdate(id: DocId): Promise<void> | undefined {
    const now = this.now();
    const at = this.markedAt.get(id);
    if (at !== undefined && now - at < this.everyMs) return undefined;
    const inFlight = this.writing.get(id);
    if (inFlight !== undefined) return inFlight;
    const written = this.write(id)
      .then(() => this.remember(id, now))
      .finally(() => this.writing.delete(id));
    this.writing.set(id, written);
    return written;
  }

  /** Forgets a document (deleted): its next update, if any, is marked. */
  forget(id: DocId): void {
    this.markedAt.delete(id);
  }

  /** How many documents have a mark remembered (for tests). */
  get size(): number {
    return this.markedAt.size;
  }

  private remember(id: DocId, at: number): void {
    this.markedAt.set(id, at);
    if (this.markedAt.size <= this.sweepAbove) return;
    const now = this.now();
    for (const [doc, markedAt] of this.markedAt) if (now - markedAt >= this.everyMs) this.markedAt.delete(doc);
    this.sweepAbove = Math.max(FIRST_SWEEP_ABOVE, 2 * this.markedAt.size);
  }
}
