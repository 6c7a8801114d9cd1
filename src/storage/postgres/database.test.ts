/**
 * Migrations and lifecycle of openDatabase on both drivers: the committed
 * migrations apply to an empty database and re-running them is a no-op; a
 * persisted PGlite keeps its data across reopen; concurrent migrate() calls
 * against one real PostgreSQL (separate pools, as separate processes would
 * have) all succeed thanks to the advisory lock; the migrate CLI exits 0 on
 * success and non-zero with a logged error on failure.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { and, eq } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { createRootLogger } from '../../log.ts';
import { spawnChild, startPostgresServer, type PostgresServerHandle } from '../../testing/index.ts';
import { openDatabase, type Database } from './database.ts';
import { docSnapshots } from './schema.ts';
import { StorageError } from './storage-error.ts';

const logger = createRootLogger({ level: 'silent', instanceId: 'test' });
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** Migrations in migrations/meta/_journal.json: what a fresh database ends up with. */
const MIGRATIONS = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'migrations', 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }).entries.length;

// On the driver-independent PgDatabase type, db.execute() returns `unknown`
// (pg and PGlite shape results differently), so catalog reads go through
// typed table declarations instead of raw SQL.
const drizzleJournal = pgSchema('drizzle').table('__drizzle_migrations', { id: integer('id').notNull() });
const informationSchemaColumns = pgSchema('information_schema').table('columns', {
  tableSchema: text('table_schema').notNull(),
  tableName: text('table_name').notNull(),
  columnName: text('column_name').notNull(),
  dataType: text('data_type').notNull(),
});

/** Rows in drizzle's journal table: one per applied migration. */
async function appliedMigrations(database: Database): Promise<number> {
  return database.db.$count(drizzleJournal);
}

/** Column name → data type of a table in `public`. */
async function columnTypes(database: Database, table: string): Promise<Record<string, string>> {
  const c = informationSchemaColumns;
  const rows = await database.db
    .select({ name: c.columnName, type: c.dataType })
    .from(c)
    .where(and(eq(c.tableSchema, 'public'), eq(c.tableName, table)));
  return Object.fromEntries(rows.map((r) => [r.name, r.type]));
}

const EXPECTED_SNAPSHOT_COLUMNS = {
  doc_id: 'text',
  seq: 'bigint',
  state: 'bytea',
  bytes: 'integer',
  created_at: 'timestamp with time zone',
  attribution: 'bytea',
};

describe('openDatabase on PGlite', () => {
  let dir: string | undefined;
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('migrates an empty data folder, re-migrates as a no-op, and keeps data across reopen', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'loom-pglite-'));
    const dataDir = path.join(dir, 'nested', 'pglite'); // the folder is created

    const first = await openDatabase({ dataDir, logger });
    try {
      assert.equal(first.kind, 'pglite');
      await first.migrate();
      await first.migrate();
      assert.equal(await appliedMigrations(first), MIGRATIONS);
      assert.deepEqual(await columnTypes(first, 'doc_snapshots'), EXPECTED_SNAPSHOT_COLUMNS);
      await first.db.insert(docSnapshots).values({ docId: 'kept', seq: 1, state: new Uint8Array([0, 0]), bytes: 2 });
      await first.ping();
    } finally {
      await first.close();
    }

    const second = await openDatabase({ dataDir, logger });
    try {
      await second.migrate();
      assert.equal(await appliedMigrations(second), MIGRATIONS);
      assert.deepEqual(await second.db.select({ docId: docSnapshots.docId }).from(docSnapshots), [{ docId: 'kept' }]);
    } finally {
      await second.close();
    }
  });
});

describe('openDatabase on PostgreSQL 15', () => {
  let server: PostgresServerHandle | undefined;
  before(async () => {
    server = await startPostgresServer();
  });
  after(async () => {
    await server?.dispose();
  });
  const freshDatabaseUrl = (): Promise<string> => {
    if (!server) throw new Error('postgres server did not start');
    return server.createDatabase();
  };

  it('migrates an empty database and re-migrates as a no-op', async () => {
    const database = await openDatabase({ url: await freshDatabaseUrl(), logger });
    try {
      assert.equal(database.kind, 'postgres');
      await database.ping();
      await database.migrate();
      await database.migrate();
      assert.equal(await appliedMigrations(database), MIGRATIONS);
      assert.deepEqual(await columnTypes(database, 'doc_snapshots'), EXPECTED_SNAPSHOT_COLUMNS);
      assert.deepEqual(Object.keys(await columnTypes(database, 'documents')).sort(), ['created_at', 'deleted_at', 'id', 'owner_id', 'title', 'updated_at']);
    } finally {
      await database.close();
    }
  });

  it('lets concurrent migrate() calls from separate pools and the same pool all succeed', async () => {
    const url = await freshDatabaseUrl();
    const a = await openDatabase({ url, logger });
    const b = await openDatabase({ url, logger });
    const c = await openDatabase({ url, logger });
    try {
      await Promise.all([a.migrate(), b.migrate(), c.migrate(), a.migrate()]);
      assert.equal(await appliedMigrations(a), MIGRATIONS);
      // The lock was released: a later run neither blocks nor fails.
      await b.migrate();
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });

  it('reports an unreachable server as a retryable StorageError from ping and migrate', async () => {
    const database = await openDatabase({ url: 'postgres://postgres@127.0.0.1:1/none', logger });
    try {
      for (const attempt of [() => database.ping(), () => database.migrate()]) {
        await assert.rejects(attempt(), (err: unknown) => err instanceof StorageError && err.retryable);
      }
    } finally {
      await database.close();
    }
  });

  it('runs the migrate CLI: exit 0 on success, non-zero with a logged error on failure', async () => {
    const cli = (databaseUrl: string) =>
      spawnChild({
        name: 'migrate-cli',
        command: process.execPath,
        args: ['--import', 'tsx', 'src/storage/postgres/migrate-cli.ts'],
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl, LOG_LEVEL: 'info' },
      });

    const url = await freshDatabaseUrl();
    const ok = cli(url);
    assert.equal((await ok.waitForExit(60_000)).code, 0, ok.output().join('\n'));
    const database = await openDatabase({ url, logger });
    try {
      assert.equal(await appliedMigrations(database), MIGRATIONS);
    } finally {
      await database.close();
    }

    const failing = cli('postgres://postgres@127.0.0.1:1/none');
    assert.equal((await failing.waitForExit(60_000)).code, 1);
    assert.ok(failing.output().some((line) => line.includes('"msg":"migration failed"')), failing.output().join('\n'));
  });
});
