/**
 * SnapshotStore on PostgreSQL (or PGlite): one row per (document, seq) in
 * `doc_snapshots`. A save inserts the snapshot and, in the same transaction,
 * prunes the document down to its newest few snapshots, so a bad latest
 * snapshot can still be rolled back to an earlier one. Saving a (document,
 * seq) pair that exists is a no-op: a retried save after a lost reply is safe.
 */
import { and, desc, eq, lt } from 'drizzle-orm';
import type { Snapshot, SnapshotStore } from '../../../actors/document/ports.ts';
import type { DocId } from '../../../protocol/ids.ts';
import type { LoomDatabase } from './database.ts';
import { searchableText, storeDocumentText } from './document-text-index.ts';
import { docSnapshots, documentTexts } from './schema.ts';
import { StorageError } from './storage-error.ts';

/** A row as a Snapshot (a null attribution column: a snapshot older than attribution). */
function toSnapshot(row: { seq: number; state: Uint8Array; attribution: Uint8Array | null } | undefined): Snapshot | null {
  if (row === undefined) return null;
  return row.attribution === null ? { seq: row.seq, state: row.state } : { seq: row.seq, state: row.state, attribution: row.attribution };
}

/** A stored snapshot without its state. */
export interface SnapshotInfo {
  /** The log seq the snapshot covers; restore by this number. */
  readonly seq: number;
  readonly bytes: number;
  readonly createdAt: Date;
}

/** Options for {@link PostgresSnapshotStore}. */
export interface PostgresSnapshotStoreOptions {
  /** Snapshots kept per document after a save, newest first. Default 3; at least 1. */
  keep?: number;
  /** Told when a snapshot's text cannot be extracted for search (the snapshot is saved all the same). */
  onIndexError?: (err: unknown, docId: DocId) => void;
}

/**
 * Stores document snapshots in the `doc_snapshots` table. Every method throws
 * StorageError (with `docId`, `seq` and the driver error as `cause`) on failure.
 * @example
 *   const store = new PostgresSnapshotStore(database.db);
 *   await store.save(docId, { seq: 42, state: Y.encodeStateAsUpdate(doc) });
 */
export class PostgresSnapshotStore implements SnapshotStore {
  readonly #db: LoomDatabase;
  readonly #keep: number;
  readonly #onIndexError: ((err: unknown, docId: DocId) => void) | undefined;

  constructor(db: LoomDatabase, opts: PostgresSnapshotStoreOptions = {}) {
    const keep = opts.keep ?? 3;
    if (!Number.isSafeInteger(keep) || keep < 1) throw new RangeError(`keep must be a positive integer, got ${keep}`);
    this.#db = db;
    this.#keep = keep;
    this.#onIndexError = opts.onIndexError;
  }

  async latest(id: DocId): Promise<Snapshot | null> {
    try {
      const rows = await this.#db
        .select({ seq: docSnapshots.seq, state: docSnapshots.state, attribution: docSnapshots.attribution })
        .from(docSnapshots)
        .where(eq(docSnapshots.docId, id))
        .orderBy(desc(docSnapshots.seq))
        .limit(1);
      return toSnapshot(rows[0]);
    } catch (err) {
      throw new StorageError(`reading the latest snapshot of document ${JSON.stringify(id)} failed`, { op: 'latest', docId: id }, { cause: err });
    }
  }

  async get(id: DocId, seq: number): Promise<Snapshot | null> {
    try {
      const rows = await this.#db
        .select({ seq: docSnapshots.seq, state: docSnapshots.state, attribution: docSnapshots.attribution })
        .from(docSnapshots)
        .where(and(eq(docSnapshots.docId, id), eq(docSnapshots.seq, seq)))
        .limit(1);
      return toSnapshot(rows[0]);
    } catch (err) {
      throw new StorageError(`reading snapshot seq ${seq} of document ${JSON.stringify(id)} failed`, { op: 'get', docId: id, seq }, { cause: err });
    }
  }

  /**
   * The document's stored snapshots, newest first, without their states:
   * what a client may restore (see SnapshotInfo).
   */
  async list(id: DocId): Promise<SnapshotInfo[]> {
    try {
      return await this.#db
        .select({ seq: docSnapshots.seq, bytes: docSnapshots.bytes, createdAt: docSnapshots.createdAt })
        .from(docSnapshots)
        .where(eq(docSnapshots.docId, id))
        .orderBy(desc(docSnapshots.seq));
    } catch (err) {
      throw new StorageError(`listing the snapshots of document ${JSON.stringify(id)} failed`, { op: 'list', docId: id }, { cause: err });
    }
  }

  async save(id: DocId, snapshot: Snapshot): Promise<void> {
    const { seq, state, attribution } = snapshot;
    // Outside the transaction: rendering a big document should not hold it open.
    const text = this.#indexableText(id, state);
    try {
      await this.#db.transaction(async (tx) => {
        await tx
          .insert(docSnapshots)
          .values({ docId: id, seq, state, bytes: state.byteLength, attribution: attribution ?? null })
          .onConflictDoNothing({ target: [docSnapshots.docId, docSnapshots.seq] });
        // Search sees what the latest snapshot holds (document-texts-schema.ts).
        await storeDocumentText(tx, id, seq, text);
        // The keep-th newest seq; everything below it goes. With fewer rows the
        // subquery is NULL, `seq < NULL` matches nothing, and nothing is deleted.
        const oldestKept = tx
          .select({ seq: docSnapshots.seq })
          .from(docSnapshots)
          .where(eq(docSnapshots.docId, id))
          .orderBy(desc(docSnapshots.seq))
          .limit(1)
          .offset(this.#keep - 1);
        await tx.delete(docSnapshots).where(and(eq(docSnapshots.docId, id), lt(docSnapshots.seq, oldestKept)));
      });
    } catch (err) {
      throw new StorageError(
        `saving snapshot seq ${seq} (${state.byteLength} bytes) of document ${JSON.stringify(id)} failed`,
        { op: 'save', docId: id, seq },
        { cause: err },
      );
    }
  }

  /**
   * The text search indexes for a snapshot. A state that does not render
   * (the actor only saves states it applied, so this is not expected) is
   * indexed as empty text: the snapshot is what must not be lost.
   */
  #indexableText(id: DocId, state: Uint8Array): string {
    try {
      return searchableText(state);
    } catch (err) {
      this.#onIndexError?.(err, id);
      return '';
    }
  }

  async remove(id: DocId): Promise<void> {
    try {
      await this.#db.delete(docSnapshots).where(eq(docSnapshots.docId, id));
      await this.#db.delete(documentTexts).where(eq(documentTexts.docId, id));
    } catch (err) {
      throw new StorageError(`removing the snapshots of document ${JSON.stringify(id)} failed`, { op: 'remove', docId: id }, { cause: err });
    }
  }
}

