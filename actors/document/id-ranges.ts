/**
 * A set of Yjs item ids, kept as sorted, merged clock ranges per client: the
 * shape of a Yjs DeleteSet, which is how Yjs itself describes "these items"
 * (deletions, an UndoManager's insertions). Attribution keeps what each
 * author inserted and deleted in this form, and revert hands it to Yjs.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';

export interface ClockRange {
  clock: number;
  len: number;
}

type DeleteSet = ReturnType<typeof Y.createDeleteSet>;

/** Most clients or ranges one encoded set may claim; guards decoding against garbage. */
const MAX_ENTRIES = 10_000_000;

export class IdRanges {
  private readonly clients = new Map<number, ClockRange[]>();

  /** Adds [clock, clock + len) of `client` (union; overlapping and adjacent ranges merge). */
  add(client: number, clock: number, len: number): void {
    if (len <= 0) return;
    const ranges = this.clients.get(client);
    if (ranges === undefined) {
      this.clients.set(client, [{ clock, len }]);
      return;
    }
    const end = clock + len;
    const last = ranges[ranges.length - 1]!;
    // The common case: a client's next edit continues where its last one ended.
    if (clock >= last.clock) {
      if (clock <= last.clock + last.len) last.len = Math.max(last.len, end - last.clock);
      else ranges.push({ clock, len });
      return;
    }
    // First range that ends at or after `clock` (it touches or follows the new one).
    let lo = 0;
    let hi = ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const r = ranges[mid]!;
      if (r.clock + r.len < clock) lo = mid + 1;
      else hi = mid;
    }
    let start = clock;
    let stop = end;
    let i = lo;
    while (i < ranges.length && ranges[i]!.clock <= stop) {
      start = Math.min(start, ranges[i]!.clock);
      stop = Math.max(stop, ranges[i]!.clock + ranges[i]!.len);
      i++;
    }
    ranges.splice(lo, i - lo, { clock: start, len: stop - start });
  }

  addAll(other: IdRanges): void {
    other.forEach((client, ranges) => {
      for (const r of ranges) this.add(client, r.clock, r.len);
    });
  }

  has(client: number, clock: number): boolean {
    const ranges = this.clients.get(client);
    if (ranges === undefined) return false;
    let lo = 0;
    let hi = ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = ranges[mid]!;
      if (clock < r.clock) hi = mid - 1;
      else if (clock >= r.clock + r.len) lo = mid + 1;
      else return true;
    }
    return false;
  }

  /** The ids of this set that `other` lacks, as a new set. */
  minus(other: IdRanges): IdRanges {
    const out = new IdRanges();
    this.forEach((client, ranges) => {
      const cut = other.clients.get(client) ?? [];
      for (const r of ranges) {
        let from = r.clock;
        const end = r.clock + r.len;
        for (const c of cut) {
          if (c.clock + c.len <= from) continue;
          if (c.clock >= end) break;
          if (c.clock > from) out.add(client, from, c.clock - from);
          from = Math.max(from, c.clock + c.len);
        }
        if (from < end) out.add(client, from, end - from);
      }
    });
    return out;
  }

  forEach(f: (client: number, ranges: readonly ClockRange[]) => void): void {
    for (const [client, ranges] of this.clients) f(client, ranges);
  }

  get isEmpty(): boolean {
    return this.clients.size === 0;
  }

  /** Number of ids (item lengths summed). */
  get size(): number {
    let n = 0;
    for (const ranges of this.clients.values()) for (const r of ranges) n += r.len;
    return n;
  }

  /** An upper bound of what {@link write} produces, without encoding (varuints take at most 5 bytes here). */
  get maxEncodedBytes(): number {
    let n = 5;
    for (const ranges of this.clients.values()) n += 10 + 10 * ranges.length;
    return n;
  }

  /** A Yjs DeleteSet naming the same ids (for UndoManager stack items). */
  toDeleteSet(): DeleteSet {
    const ds = Y.createDeleteSet();
    for (const [client, ranges] of this.clients) ds.clients.set(client, ranges.map((r) => ({ clock: r.clock, len: r.len })));
    return ds;
  }

  static fromDeleteSet(ds: DeleteSet): IdRanges {
    const out = new IdRanges();
    ds.clients.forEach((items, client) => {
      for (const item of items) out.add(client, item.clock, item.len);
    });
    return out;
  }

  /** Clients, then per client its ranges with clocks relative to the previous range's end. */
  write(e: encoding.Encoder): void {
    encoding.writeVarUint(e, this.clients.size);
    for (const [client, ranges] of this.clients) {
      encoding.writeVarUint(e, client);
      encoding.writeVarUint(e, ranges.length);
      let at = 0;
      for (const r of ranges) {
        encoding.writeVarUint(e, r.clock - at);
        encoding.writeVarUint(e, r.len);
        at = r.clock + r.len;
      }
    }
  }

  /** @throws Error when the bytes are not what {@link write} produces. */
  static read(d: decoding.Decoder): IdRanges {
    const out = new IdRanges();
    const clients = decoding.readVarUint(d);
    if (clients > MAX_ENTRIES) throw new Error(`id set claims ${clients} clients`);
    for (let c = 0; c < clients; c++) {
      const client = decoding.readVarUint(d);
      const count = decoding.readVarUint(d);
      if (count > MAX_ENTRIES) throw new Error(`id set claims ${count} ranges`);
      let at = 0;
      for (let i = 0; i < count; i++) {
        const clock = at + decoding.readVarUint(d);
        const len = decoding.readVarUint(d);
        out.add(client, clock, len);
        at = clock + len;
      }
    }
    return out;
  }
}
