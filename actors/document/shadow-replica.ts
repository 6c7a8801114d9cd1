/**
 * A second replica of the document that client updates are tried on before
 * they touch the live doc. Yjs can integrate part of an update and then throw
 * (an item naming a parent that does not exist, say): on the shadow that
 * costs nothing but the shadow itself, which is dropped and copied again from
 * the intact live doc, in memory, when the next update needs it. The live doc
 * never holds state the log lacks, so nothing is rebuilt from the log.
 *
 * Integration is deterministic, so an update that applied to the shadow
 * applies to the live doc the same way. Everything else applied to the live
 * doc (restores, reverts) reaches the shadow through the live doc's update
 * event. Cost: a second copy of the document in memory and a second apply
 * per update; the copy is made on the first update after activation.
 */
import * as Y from 'yjs';

export class ShadowReplica {
  private shadow: Y.Doc | null = null;
  /** Set while the live doc applies an update the shadow already holds. */
  private inStep = false;

  constructor(private readonly live: Y.Doc) {
    live.on('update', this.follow);
  }

  /**
   * Applies `update` to the shadow.
   * @throws whatever Yjs throws; the live doc is untouched and the shadow is discarded.
   */
  tryApply(update: Uint8Array): void {
    const shadow = (this.shadow ??= this.copyLive());
    try {
      Y.applyUpdate(shadow, update);
    } catch (err) {
      this.discard();
      throw err;
    }
  }

  /** Runs `apply` (which applies to the live doc an update tryApply accepted) without echoing it to the shadow. */
  applyLive<T>(apply: () => T): T {
    this.inStep = true;
    try {
      return apply();
    } finally {
      this.inStep = false;
    }
  }

  private readonly follow = (update: Uint8Array): void => {
    if (this.inStep || this.shadow === null) return;
    try {
      Y.applyUpdate(this.shadow, update);
    } catch {
      // The live doc produced this update, so the shadow must take it; if not, a fresh copy will.
      this.discard();
    }
  };

  private copyLive(): Y.Doc {
    const copy = new Y.Doc();
    // Pending structs (waiting for missing dependencies) are part of the encoded state.
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(this.live));
    return copy;
  }

  private discard(): void {
    this.shadow?.destroy();
    this.shadow = null;
  }

  dispose(): void {
    this.live.off('update', this.follow);
    this.discard();
  }
}
