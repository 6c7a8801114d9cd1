/**
 * Reverting one job's or agent session's edits as ONE new update, the way
 * an editor's undo does it: Yjs's UndoManager pops a stack item whose
 * insertions are everything the origin inserted and whose deletions are
 * everything it deleted (and no revert restored yet). Yjs then deletes the
 * origin's items that are still there and re-inserts copies of what it
 * deleted at their old places (redoItem), leaving everyone else's edits,
 * concurrent ones included, where they are.
 *
 * It runs on a throwaway copy of the live document (gc off, so the copy
 * keeps the deleted content the live document kept for this), whose one
 * transaction is the update; the live document changes only when the actor
 * applies that update through its write path. The copies are attributed to
 * whoever wrote the originals; the removals to whoever asked for the revert.
 *
 * In an XML root (TipTap) the origin also inserted paragraphs and their
 * XmlTexts. One that someone else has since typed into stays, so their text
 * does too; only the origin's own characters leave it.
 */
import * as Y from 'yjs';
import { AttributionRecord } from './attribution-record.ts';
import type { Attribution } from './attribution.ts';
import { IdRanges } from './id-ranges.ts';

export interface RevertPlan {
  /** The update to apply and append. */
  readonly update: Uint8Array;
  /** Its attribution, stored with its log entry. */
  readonly record: AttributionRecord;
  /** Item lengths of the origin's content that the update removes. */
  readonly removed: number;
  /** Item lengths of deleted content that the update brings back. */
  readonly restored: number;
}

type StackItem = Y.UndoManager['undoStack'][number];

/** A client id no item of either document uses yet. */
function freshClientId(...docs: Y.Doc[]): number {
  for (;;) {
    const id = (Math.random() * 0xffff_ffff) >>> 0;
    if (id !== 0 && docs.every((d) => !d.store.clients.has(id))) return id;
  }
}

/** Calls `f` with each item of `doc` whose first clock `ids` hold (items may start before a range). */
function forEachItem(doc: Y.Doc, ids: IdRanges, f: (item: Y.Item) => void): void {
  ids.forEach((client, ranges) => {
    const structs = doc.store.clients.get(client);
    if (structs === undefined) return;
    for (const r of ranges) {
      for (let i = Y.findIndexSS(structs, r.clock); i < structs.length && structs[i]!.id.clock < r.clock + r.len; i++) {
        const item = structs[i];
        if (item instanceof Y.Item) f(item);
      }
    }
  });
}

/** For every original item a revert re-inserted, the copy's ids take the original's authors. */
function attributeCopies(work: Y.Doc, attempted: IdRanges, attribution: Attribution, record: AttributionRecord): void {
  forEachItem(work, attempted, (item) => {
    if (item.redone === null) return;
    let offset = 0;
    for (const segment of attribution.segments(item.id.client, item.id.clock, item.length)) {
      record.of(segment.author).inserts.add(item.redone.client, item.redone.clock + offset, segment.len);
      offset += segment.len;
    }
  });
}

/** Live lengths of the copies a revert inserted (a copy of garbage-collected content arrives deleted). */
function liveLength(work: Y.Doc, client: number): number {
  let n = 0;
  for (const s of work.store.clients.get(client) ?? []) if (s instanceof Y.Item && !s.deleted && s.countable) n += s.length;
  return n;
}

/** Does the type hold live content that `insertions` did not bring in (at any depth)? */
function holdsOthers(type: Y.AbstractType<unknown>, insertions: IdRanges): boolean {
  for (let item = type._start; item !== null; item = item.right) {
    if (item.deleted) continue;
    if (!insertions.has(item.id.client, item.id.clock)) return true;
    if (item.content instanceof Y.ContentType && holdsOthers(item.content.type, insertions)) return true;
  }
  return false;
}

/** The origin's inserted containers (paragraphs, XmlTexts) that hold someone else's live content: removing them would remove it. */
function sharedContainers(work: Y.Doc, insertions: IdRanges): IdRanges {
  const shared = new IdRanges();
  forEachItem(work, insertions, (item) => {
    if (!item.deleted && item.content instanceof Y.ContentType && holdsOthers(item.content.type, insertions)) shared.add(item.id.client, item.id.clock, item.length);
  });
  return shared;
}

/**
 * The update that reverts `origin`'s edits in `live`, or null when nothing
 * of them is left to revert. `live` itself is not changed.
 */
export function planRevert(live: Y.Doc, attribution: Attribution, origin: string, reverter: string): RevertPlan | null {
  const insertions = attribution.insertsOf(origin);
  const deletions = attribution.unrestoredDeletesOf(origin);
  if (insertions.isEmpty && deletions.isEmpty) return null;
  const work = new Y.Doc({ gc: false });
  try {
    Y.applyUpdate(work, Y.encodeStateAsUpdate(live));
    work.clientID = freshClientId(live, work);
    const updates: Uint8Array[] = [];
    const removed = new IdRanges();
    work.on('update', (update: Uint8Array) => updates.push(update));
    work.on('afterTransaction', (tr: Y.Transaction) => removed.addAll(IdRanges.fromDeleteSet(tr.deleteSet)));
    // Captures nothing itself: its only stack item is the one pushed here.
    const undo = new Y.UndoManager(work, { captureTransaction: () => false });
    const removable = insertions.minus(sharedContainers(work, insertions));
    const item: StackItem = { insertions: removable.toDeleteSet(), deletions: deletions.toDeleteSet(), meta: new Map() };
    undo.undoStack.push(item);
    undo.undo();
    undo.destroy();
    if (updates.length === 0) return null;
    const record = new AttributionRecord();
    attributeCopies(work, deletions, attribution, record);
    // A copy that arrived deleted (its original was collected) is not a removal of anyone's text.
    const ownCopies = new IdRanges();
    ownCopies.add(work.clientID, 0, Y.getState(work.store, work.clientID));
    const removals = removed.minus(ownCopies);
    record.of(reverter).deletes.addAll(removals);
    record.of(origin).restored.addAll(deletions);
    return {
      update: updates.length === 1 ? updates[0]! : Y.mergeUpdates(updates),
      record,
      removed: removals.size,
      restored: liveLength(work, work.clientID),
    };
  } finally {
    work.destroy();
  }
}
