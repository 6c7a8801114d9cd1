/**
 * Runs the SnapshotStore contract against PostgresSnapshotStore on both
 * drivers, in-memory PGlite and a real PostgreSQL 15 from the test harness,
 * plus what only this adapter promises: reads come back as plain Uint8Array
 * (not pg's Buffer), sizes are recorded, and failures are StorageErrors
 * carrying doc id and seq. Each driver's database is opened once per file.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import { parseActorId } from '../../../protocol/ids.ts';
import { createRootLogger } from '../../log.ts';
import { startPostgresServer, type PostgresServerHandle } from '../../testing/index.ts';
import { openDatabase, type Database } from './database.ts';
import { PostgresSnapshotStore } from './postgres-snapshot-store.ts';
import { docSnapshots } from './schema.ts';
import { snapshotStoreContract } from '../../testing/snapshot-store.contract.ts';
import { StorageError } from './storage-error.ts';

const logger = createRootLogger({ level: 'silent', instanceId: 'test' });

let server: PostgresServerHandle | undefined;
const opened: Promise<Database>[] = [];

/** Opens (and migrates) a driver's database on first use; the file's `after` closes it. */
function sharedDatabase(open: () => Promise<Database>): () => Promise<Database> {
  let database: Promise<Database> | undefined;
  return () => {
    if (!database) {
      database = open().then(async (d) => {
        await d.migrate();
        return d;
      });
      opened.push(database);
    }
    return database;
  };
}

const drivers = {
  'PGlite (in-memory)': sharedDatabase(() => openDatabase({ logger })),
  'PostgreSQL 15': sharedDatabase(async () => {
    server ??= await startPostgresServer();
    return openDatabase({ url: await server.createDatabase(), logger });
  }),
};

after(async () => {
  const settled = await Promise.allSettled(opened);
  for (const result of settled) if (result.status === 'fulfilled') await result.value.close();
  await server?.dispose();
});

const seqsOf = async (database: Database, id: string): Promise<number[]> =>
  (await database.db.select({ seq: docSnapshots.seq }).from(docSnapshots).where(eq(docSnapshots.docId, id))).map((r) => r.seq);

for (const [driver, database] of Object.entries(drivers)) {
  snapshotStoreContract(`PostgresSnapshotStore on ${driver}`, async () => {
    const d = await database();
    // The file closes the shared database once both suites are done.
    return { store: new PostgresSnapshotStore(d.db), listSeqs: (id) => seqsOf(d, id), close: async () => undefined };
  });

  describe(`PostgresSnapshotStore on ${driver} beyond the contract`, () => {
    it('returns state as a plain Uint8Array that owns its memory', async () => {
      const store = new PostgresSnapshotStore((await database()).db);
      const id = parseActorId(`plain-${randomUUID()}`);
      await store.save(id, { seq: 1, state: new Uint8Array([1, 2, 3]) });
      const snapshot = await store.latest(id);
      assert.ok(snapshot);
      assert.equal(Object.getPrototypeOf(snapshot.state), Uint8Array.prototype, 'not a Buffer');
      assert.equal(snapshot.state.buffer.byteLength, 3, 'not a view into a shared allocation');
    });

    it('records the state size in the bytes column', async () => {
      const d = await database();
      const id = parseActorId(`size-${randomUUID()}`);
      await new PostgresSnapshotStore(d.db).save(id, { seq: 1, state: new Uint8Array(1234) });
      const rows = await d.db.select({ bytes: docSnapshots.bytes }).from(docSnapshots).where(eq(docSnapshots.docId, id));
      assert.deepEqual(rows, [{ bytes: 1234 }]);
    });

    it('honours a custom number of kept snapshots', async () => {
      const d = await database();
      const store = new PostgresSnapshotStore(d.db, { keep: 1 });
      const id = parseActorId(`keep-${randomUUID()}`);
      for (const seq of [1, 2, 3]) await store.save(id, { seq, state: new Uint8Array([seq]) });
      assert.deepEqual(await seqsOf(d, id), [3]);
    });

    it('throws a terminal StorageError naming the document and seq when the database rejects the write', async () => {
      const store = new PostgresSnapshotStore((await database()).db);
      const id = parseActorId(`bad-${randomUUID()}`);
      const seq = 2 ** 64; // beyond bigint: the server refuses it
      await assert.rejects(store.save(id, { seq, state: new Uint8Array([1]) }), (err: unknown) => {
        assert.ok(err instanceof StorageError);
        assert.equal(err.code, 'storage-failed');
        assert.equal(err.retryable, false);
        assert.deepEqual(err.context, { op: 'save', docId: id, seq });
        assert.ok(err.message.includes(id), err.message);
        assert.ok(err.cause instanceof Error);
        return true;
      });
    });
  });
}

describe('PostgresSnapshotStore on an unreachable server', () => {
  it('throws a retryable StorageError naming the document', async () => {
    const unreachable = await openDatabase({ url: 'postgres://postgres@127.0.0.1:1/none', logger });
    try {
      const id = parseActorId(`down-${randomUUID()}`);
      await assert.rejects(new PostgresSnapshotStore(unreachable.db).latest(id), (err: unknown) => {
        assert.ok(err instanceof StorageError);
        assert.equal(err.code, 'storage-unavailable');
        assert.deepEqual(err.context, { op: 'latest', docId: id });
        return true;
      });
    } finally {
      await unreachable.close();
    }
  });
});

describe('PostgresSnapshotStore options', () => {
  it('refuses to keep fewer than one snapshot', async () => {
    const d = await drivers['PGlite (in-memory)']();
    assert.throws(() => new PostgresSnapshotStore(d.db, { keep: 0 }), RangeError);
  });
});
