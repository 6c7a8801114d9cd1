/**
 * Who wrote what in one document: for every Yjs item id the author whose
 * update brought it in, and per author what its updates deleted.
 *
 * It is recorded from Yjs's own transactions: after each applied update,
 * the ids between the state vectors before and after are that update's
 * insertions (first claim wins, so a re-sent update never changes hands),
 * and the transaction's delete set is what it newly deleted.
 *
 * Where it lives, and why not in the Y.Doc: Yjs's PermanentUserData keeps
 * users inside the document, in a shared map that any client can edit, and
 * records deletions of local transactions on a timer; a snapshot restore
 * would also rewind it and every client would download it. So attribution
 * lives beside the document and is made durable the way its state is:
 * every log entry names its author (replaying it records the same thing
 * again), a revert's entry carries its exact record, and every snapshot
 * stores the whole record encoded at the same instant as the state. That
 * survives compaction, passivation, restart and failover like the text.
 *
 * Revert must bring back what a job or agent deleted, so the document's
 * garbage collector keeps the content of items such authors deleted
 * (gcFilter) until a revert restored them.
 */
import * as Y from 'yjs';
import { UNKNOWN_AUTHOR } from '../../protocol/attribution.ts';
import { AttributionRecord } from './attribution-record.ts';
import { IdRanges } from './id-ranges.ts';

interface OwnedRange {
  clock: number;
  len: number;
  author: string;
}

/** A run of one client's clocks written by one author. */
export interface AuthorSegment {
  readonly author: string;
  readonly len: number;
}

/** Jobs and agent sessions can be reverted, so what they delete is kept restorable. */
export function isRevertableAuthor(author: string): boolean {
  return author.startsWith('job:') || author.startsWith('agent:');
}

export class Attribution {
  /** Per client, sorted and non-overlapping: who inserted which clocks. */
  private readonly owners = new Map<number, OwnedRange[]>();
  // Made on first use: most documents never see a delete or a revert, and an empty Map costs ~200 bytes each.
  private deleted: Map<string, IdRanges> | undefined;
  private restored: Map<string, IdRanges> | undefined;
  /** What revertable authors deleted and no revert restored yet: never garbage collected. */
  private kept = new IdRanges();
  private author: string = UNKNOWN_AUTHOR;
  private recording = true;
  /** While set, what is recorded is also written here (see captureAs). */
  private capture: AttributionRecord | null = null;

  /** A Y.Doc whose transactions are recorded here and whose GC keeps what revertable authors deleted. */
  createDoc(): Y.Doc {
    const doc = new Y.Doc({ gc: true, gcFilter: (item) => !this.kept.has(item.id.client, item.id.clock) });
    // afterTransaction runs before the transaction's GC, so a deletion is recorded before gcFilter is asked about it.
    doc.on('afterTransaction', (tr: Y.Transaction) => this.record(tr));
    return doc;
  }

  /** Runs `apply` (which applies updates to the doc) with its transactions attributed to `author` (undefined: unknown). */
  as<T>(author: string | undefined, apply: () => T): T {
    const previous = this.author;
    this.author = author ?? UNKNOWN_AUTHOR;
    try {
      return apply();
    } finally {
      this.author = previous;
    }
  }

  /**
   * Like {@link as}, and returns what the transactions recorded: the record
   * a log entry carries when it merges updates of several authors.
   */
  captureAs(author: string | undefined, apply: () => void): AttributionRecord {
    const record = new AttributionRecord();
    const previous = this.capture;
    this.capture = record;
    try {
      this.as(author, apply);
    } finally {
      this.capture = previous;
    }
    return record;
  }

  /** Merges an explicit record, then runs `apply` without recording (snapshots and reverts bring their own). */
  withRecord<T>(record: AttributionRecord | null, apply: () => T): T {
    if (record !== null) this.merge(record);
    const previous = this.recording;
    this.recording = false;
    try {
      return apply();
    } finally {
      this.recording = previous;
    }
  }

  private record(tr: Y.Transaction): void {
    if (!this.recording) return;
    const author = this.author;
    const captured = this.capture?.of(author);
    tr.afterState.forEach((clock, client) => {
      const before = tr.beforeState.get(client) ?? 0;
      if (clock <= before) return;
      this.claim(author, client, before, clock - before);
      captured?.inserts.add(client, before, clock - before);
    });
    tr.deleteSet.clients.forEach((items, client) => {
      for (const d of items) {
        this.noteDelete(author, client, d.clock, d.len);
        captured?.deletes.add(client, d.clock, d.len);
      }
    });
  }

  /** Records an insertion; clocks someone already claimed keep their author. */
  private claim(author: string, client: number, clock: number, len: number): void {
    const ranges = this.owners.get(client);
    if (ranges === undefined) {
      this.owners.set(client, [{ clock, len, author }]);
      return;
    }
    const last = ranges[ranges.length - 1]!;
    const lastEnd = last.clock + last.len;
    if (clock >= lastEnd) {
      if (clock === lastEnd && last.author === author) last.len += len;
      else ranges.push({ clock, len, author });
      return;
    }
    const end = clock + len;
    const lo = firstEndingAfter(ranges, clock);
    const gaps: OwnedRange[] = [];
    let from = clock;
    let i = lo;
    for (; i < ranges.length && ranges[i]!.clock < end; i++) {
      const r = ranges[i]!;
      if (r.clock > from) gaps.push({ clock: from, len: r.clock - from, author });
      from = Math.max(from, r.clock + r.len);
    }
    if (from < end) gaps.push({ clock: from, len: end - from, author });
    if (gaps.length === 0) return;
    const merged = [...ranges.slice(lo, i), ...gaps].sort((a, b) => a.clock - b.clock);
    ranges.splice(lo, i - lo, ...merged);
  }

  private noteDelete(author: string, client: number, clock: number, len: number): void {
    setOf((this.deleted ??= new Map()), author).add(client, clock, len);
    if (isRevertableAuthor(author)) this.kept.add(client, clock, len);
  }

  /** Marks deletions of `author` as restored by a revert: never restored again, and collectable. */
  private markRestored(author: string, ids: IdRanges): void {
    setOf((this.restored ??= new Map()), author).addAll(ids);
    this.kept = this.kept.minus(ids);
  }

  /** Who inserted `len` clocks of `client` from `clock`, as consecutive segments (unknown where nobody claimed them). */
  segments(client: number, clock: number, len: number): AuthorSegment[] {
    const ranges = this.owners.get(client) ?? [];
    const out: AuthorSegment[] = [];
    const push = (author: string, n: number) => {
      const prev = out[out.length - 1];
      if (prev !== undefined && prev.author === author) out[out.length - 1] = { author, len: prev.len + n };
      else out.push({ author, len: n });
    };
    const end = clock + len;
    let at = clock;
    for (let i = firstEndingAfter(ranges, clock); i < ranges.length && at < end; i++) {
      const r = ranges[i]!;
      if (r.clock >= end) break;
      if (r.clock > at) push(UNKNOWN_AUTHOR, r.clock - at);
      const stop = Math.min(end, r.clock + r.len);
      push(r.author, stop - Math.max(at, r.clock));
      at = stop;
    }
    if (at < end) push(UNKNOWN_AUTHOR, end - at);
    return out;
  }

  /** What `author` inserted (whether or not it is still there). */
  insertsOf(author: string): IdRanges {
    const out = new IdRanges();
    for (const [client, ranges] of this.owners) for (const r of ranges) if (r.author === author) out.add(client, r.clock, r.len);
    return out;
  }

  /** What `author` deleted that no revert has restored yet. */
  unrestoredDeletesOf(author: string): IdRanges {
    const deleted = this.deleted?.get(author) ?? new IdRanges();
    const restored = this.restored?.get(author);
    return restored === undefined ? deleted : deleted.minus(restored);
  }

  /** Every author with something recorded. */
  authors(): Set<string> {
    const out = new Set<string>(this.deleted?.keys());
    for (const ranges of this.owners.values()) for (const r of ranges) out.add(r.author);
    return out;
  }

  /** The whole attribution as a record (what a snapshot stores). */
  toRecord(): AttributionRecord {
    const record = new AttributionRecord();
    for (const [client, ranges] of this.owners) for (const r of ranges) record.of(r.author).inserts.add(client, r.clock, r.len);
    for (const [author, ids] of this.deleted ?? []) record.of(author).deletes.addAll(ids);
    for (const [author, ids] of this.restored ?? []) record.of(author).restored.addAll(ids);
    return record;
  }

  /** Adds a record (a snapshot's, or a revert entry's); merging the same record twice changes nothing. */
  merge(record: AttributionRecord): void {
    for (const [author, entry] of record.authors) {
      entry.inserts.forEach((client, ranges) => {
        for (const r of ranges) this.claim(author, client, r.clock, r.len);
      });
      entry.deletes.forEach((client, ranges) => {
        for (const r of ranges) this.noteDelete(author, client, r.clock, r.len);
      });
      if (!entry.restored.isEmpty) this.markRestored(author, entry.restored);
    }
  }
}

function setOf(map: Map<string, IdRanges>, author: string): IdRanges {
  let set = map.get(author);
  if (set === undefined) {
    set = new IdRanges();
    map.set(author, set);
  }
  return set;
}

/** Index of the first range that ends after `clock` (ranges sorted, non-overlapping). */
function firstEndingAfter(ranges: readonly OwnedRange[], clock: number): number {
  let lo = 0;
  let hi = ranges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const r = ranges[mid]!;
    if (r.clock + r.len <= clock) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
