/**
 * A second replica of the document that client updates are tried on before
 * they touch the live doc. Yjs can integrate part of an update and then throw
 * (an item naming a parent that does not exist, say): on the shadow that
 * costs nothing but the shadow's purity. The live doc never holds state the
 * log lacks, so nothing is rebuilt from the log.
 *
 * What a failed update left in the shadow belongs to the clients it named
 * (its own structs, and the ids its items refer to); those clients become
 * tainted. A later update naming a tainted client is tried on a fresh copy
 * of the live doc, made then; updates that name none are tried on the shadow
 * as it is, since the leftovers are items they neither contain nor refer to.
 * So one offender costs one copy at most, and none unless someone later
 * names its clients (normally nobody: its items never left the server).
 *
 * Integration is deterministic, so an update that applied to a clean shadow
 * applies to the live doc the same way. Anything else that changes the live
 * doc (restores, reverts) reaches the shadow from the live doc's
 * `afterTransaction` event: the structs after the transaction's before-state,
 * encoded then. (Listening to the `update` event instead would make Yjs
 * encode every transaction of the live doc, ~4 % of the CPU under load.)
 * Cost: a second copy of the document in memory and a second apply per
 * update; the copy is made on the first update after activation.
 */
import * as Y from 'yjs';
import { transactionChanged } from './transaction-changed.ts';

/** Past this many tainted clients the shadow is replaced at the next update. */
const MAX_TAINTED_CLIENTS = 256;

export class ShadowReplica {
  private shadow: Y.Doc | null = null;
  /** Made on the first failed update. */
  private tainted: Set<number> | undefined;
  /** Set while the live doc applies an update the shadow already holds. */
  private inStep = false;
  /** Copies made of the live doc (for tests and logs). */
  copies = 0;

  constructor(private readonly live: Y.Doc) {
    live.on('afterTransaction', this.follow);
  }

  /**
   * Applies `update`, which names `clients`, to the shadow.
   * @throws whatever Yjs throws; the live doc is untouched.
   */
  tryApply(update: Uint8Array, clients: ReadonlySet<number>): void {
    const tainted = this.tainted;
    if (tainted !== undefined && (tainted.size > MAX_TAINTED_CLIENTS || [...clients].some((c) => tainted.has(c)))) this.discard();
    const shadow = (this.shadow ??= this.copyLive());
    try {
      Y.applyUpdate(shadow, update);
    } catch (err) {
      const marked = (this.tainted ??= new Set());
      for (const c of clients) marked.add(c);
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

  private readonly follow = (tr: Y.Transaction): void => {
    if (this.inStep || this.shadow === null || !transactionChanged(tr)) return;
    try {
      // What the transaction added, and the live doc's deletions (the shadow already holds all but the new ones).
      Y.applyUpdate(this.shadow, Y.encodeStateAsUpdate(this.live, Y.encodeStateVector(tr.beforeState)));
    } catch {
      // The live doc produced this update, so a clean shadow takes it; if this one did not, a fresh copy will.
      this.discard();
    }
  };

  private copyLive(): Y.Doc {
    this.copies++;
    const copy = new Y.Doc();
    // Pending structs (waiting for missing dependencies) are part of the encoded state.
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(this.live));
    return copy;
  }

  private discard(): void {
    this.shadow?.destroy();
    this.shadow = null;
    this.tainted = undefined;
  }

  dispose(): void {
    this.live.off('afterTransaction', this.follow);
    this.discard();
  }
}
