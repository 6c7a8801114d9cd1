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
import { docSnapshots } from './schema.ts';
import { StorageError } from './storage-error.ts';

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

  constructor(db: LoomDatabase, opts: PostgresSnapshotStoreOptions = {}) {
    const keep = opts.keep ?? 3;
    if (!Number.isSafeInteger(keep) || keep < 1) throw new RangeError(`keep must be a positive integer, got ${keep}`);
    this.#db = db;
    this.#keep = keep;
  }

  async latest(id: DocId): Promise<Snapshot | null> {
    try {
      const rows = await this.#db
        .select({ seq: docSnapshots.seq, state: docSnapshots.state })
        .from(docSnapshots)
        .where(eq(docSnapshots.docId, id))
        .orderBy(desc(docSnapshots.seq))
        .limit(1);
      return rows[0] ?? null;
    } catch (err) {
      throw new StorageError(`reading the latest snapshot of document ${JSON.stringify(id)} failed`, { op: 'latest', docId: id }, { cause: err });
    }
  }

  async get(id: DocId, seq: number): Promise<Snapshot | null> {
    try {
      const rows = await this.#db
        .select({ seq: docSnapshots.seq, state: docSnapshots.state })
        .from(docSnapshots)
        .where(and(eq(docSnapshots.docId, id), eq(docSnapshots.seq, seq)))
        .limit(1);
      return rows[0] ?? null;
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
    const { seq, state } = snapshot;
    try {
      await this.#db.transaction(async (tx) => {
        await tx
          .insert(docSnapshots)
          .values({ docId: id, seq, state, bytes: state.byteLength })
          .onConflictDoNothing({ target: [docSnapshots.docId, docSnapshots.seq] });
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

  async remove(id: DocId): Promise<void> {
    try {
      await this.#db.delete(docSnapshots).where(eq(docSnapshots.docId, id));
    } catch (err) {
      throw new StorageError(`removing the snapshots of document ${JSON.stringify(id)} failed`, { op: 'remove', docId: id }, { cause: err });
    }
  }
}
