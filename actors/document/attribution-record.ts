/**
 * Attribution as data: per author, the ids it inserted, the ids it deleted,
 * and which of those deletions a revert already brought back. A snapshot
 * stores the whole record beside the state; a revert's log entry stores the
 * record of that one update. Encoded with lib0, versioned.
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { isAuthor, UNKNOWN_AUTHOR } from '../../protocol/attribution.ts';
import { IdRanges } from './id-ranges.ts';

export interface AuthorRecord {
  readonly inserts: IdRanges;
  readonly deletes: IdRanges;
  /** Deletions of this author that a revert restored (as copies); never restored twice. */
  readonly restored: IdRanges;
}

const VERSION = 1;
const MAX_AUTHORS = 1_000_000;

export class AttributionRecord {
  readonly authors = new Map<string, AuthorRecord>();

  /** The author's entry, created empty when missing. */
  of(author: string): AuthorRecord {
    let entry = this.authors.get(author);
    if (entry === undefined) {
      entry = { inserts: new IdRanges(), deletes: new IdRanges(), restored: new IdRanges() };
      this.authors.set(author, entry);
    }
    return entry;
  }

  get isEmpty(): boolean {
    for (const a of this.authors.values()) if (!a.inserts.isEmpty || !a.deletes.isEmpty || !a.restored.isEmpty) return false;
    return true;
  }

  /** An upper bound of the encoded size, without encoding. */
  get maxEncodedBytes(): number {
    let n = 10;
    for (const [author, a] of this.authors) n += 5 + author.length * 3 + a.inserts.maxEncodedBytes + a.deletes.maxEncodedBytes + a.restored.maxEncodedBytes;
    return n;
  }

  /** Adds another record's entries (union). */
  addAll(other: AttributionRecord): void {
    for (const [author, a] of other.authors) {
      const mine = this.of(author);
      mine.inserts.addAll(a.inserts);
      mine.deletes.addAll(a.deletes);
      mine.restored.addAll(a.restored);
    }
  }

  encode(): Uint8Array {
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, VERSION);
    encoding.writeVarUint(e, this.authors.size);
    for (const [author, entry] of this.authors) {
      encoding.writeVarString(e, author);
      entry.inserts.write(e);
      entry.deletes.write(e);
      entry.restored.write(e);
    }
    return encoding.toUint8Array(e);
  }

  /** @throws Error naming what is wrong when the bytes are not an encoded record of a known version. */
  static decode(bytes: Uint8Array): AttributionRecord {
    const d = decoding.createDecoder(bytes);
    const out = new AttributionRecord();
    try {
      const version = decoding.readVarUint(d);
      if (version !== VERSION) throw new Error(`attribution record version ${version} is unknown`);
      const count = decoding.readVarUint(d);
      if (count > MAX_AUTHORS) throw new Error(`attribution record claims ${count} authors`);
      for (let i = 0; i < count; i++) {
        const author = decoding.readVarString(d);
        if (author !== UNKNOWN_AUTHOR && !isAuthor(author)) throw new Error(`attribution record names an invalid author ${JSON.stringify(author.slice(0, 80))}`);
        const entry = out.of(author);
        entry.inserts.addAll(IdRanges.read(d));
        entry.deletes.addAll(IdRanges.read(d));
        entry.restored.addAll(IdRanges.read(d));
      }
    } catch (err) {
      throw new Error('attribution record is truncated or malformed', { cause: err });
    }
    if (decoding.hasContent(d)) throw new Error('trailing bytes after the attribution record');
    return out;
  }
}
