/**
 * Opens Loom's PostgreSQL database on one of two drivers behind one type:
 * a `pg` pool against a real server when a URL is configured, otherwise
 * PGlite (PostgreSQL compiled to WASM) embedded in the process and persisted
 * in a folder. Queries are written once against drizzle's common `PgDatabase`
 * type. Migrations from `migrations/` are applied by `migrate()`, serialised
 * within a process and, on a real server, across processes with a session
 * advisory lock held on one dedicated connection for the whole run.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { drizzle as drizzlePg } from 'drizzle-orm/node-postgres';
import { migrate as migratePg } from 'drizzle-orm/node-postgres/migrator';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import pg from 'pg';
import type { Logger } from '../../log.ts';
import { projectPath } from '../../project-root.ts';
import * as schema from './schema.ts';
import { StorageError } from './storage-error.ts';

/** Drizzle's driver-independent database type with Loom's schema; what adapters query through. */
export type LoomDatabase = PgDatabase<PgQueryResultHKT, typeof schema>;

/** Which driver a {@link Database} runs on. */
export type DatabaseKind = 'postgres' | 'pglite';

/** An open database: the drizzle handle plus lifecycle. */
export interface Database {
  readonly db: LoomDatabase;
  readonly kind: DatabaseKind;
  /**
   * Applies pending migrations from `migrations/`; a no-op when none are
   * pending. Safe to call concurrently, from this and (on PostgreSQL) other
   * processes: callers wait for each other.
   * @throws StorageError (op `migrate`) when a migration or the lock fails.
   */
  migrate(): Promise<void>;
  /**
   * Runs `SELECT 1`; for readiness probes.
   * @throws StorageError (op `ping`) when the database does not answer.
   */
  ping(): Promise<void>;
  /** Closes the pool or the embedded instance; idempotent. */
  close(): Promise<void>;
}

/** Options for {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** `postgres://` URL of a real server. When absent, PGlite is used. */
  url?: string;
  /** PGlite data folder (created if missing); absent = in-memory (tests). Ignored with `url`. */
  dataDir?: string;
  logger: Logger;
  /** Pool size for `url`. Default 10. */
  poolMax?: number;
  /** Server-side limit per statement for `url`, in ms. Default 30_000. */
  statementTimeoutMs?: number;
  /** Limit for one migrate() run on `url` (lock wait included), in ms. Default 300_000. */
  migrateTimeoutMs?: number;
}

/** `migrations/` at the repository root, found from this file rather than from the cwd. */
export const MIGRATIONS_FOLDER = projectPath('migrations');

/**
 * Key of the session advisory lock that serialises migrations across
 * processes: ASCII "Loom" as an int. Any fixed value works as long as every
 * Loom process uses the same one and nothing else in the database does.
 */
export const MIGRATION_LOCK_KEY = 0x4c6f6f6d;

/** Where the embedded database lives under Loom's data folder (shared by main and the migrate CLI). */
export function embeddedDataDir(loomDataDir: string): string {
  return path.join(loomDataDir, 'pglite');
}

/**
 * Opens a database. Nothing is migrated here: call `migrate()`.
 * PGlite is single-process: never open the same `dataDir` from two processes.
 * @throws StorageError (op `open`) when the PGlite folder cannot be created or PGlite fails to start.
 * @example
 *   const database = await openDatabase({ url: config.database.url, dataDir: embeddedDataDir(config.dataDir), logger });
 *   await database.migrate();
 */
export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  const logger = opts.logger.child({ component: 'database' });
  const database = opts.url === undefined ? await openPglite(opts.dataDir, logger) : openPostgres(opts.url, opts, logger);
  logger.info({ kind: database.kind, dataDir: database.kind === 'pglite' ? (opts.dataDir ?? 'memory') : undefined }, 'database opened');
  return database;
}

function openPostgres(url: string, opts: OpenDatabaseOptions, logger: Logger): Database {
  const statementTimeoutMs = opts.statementTimeoutMs ?? 30_000;
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolMax ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: statementTimeoutMs,
    idle_in_transaction_session_timeout: statementTimeoutMs * 2,
    keepAlive: true,
    application_name: 'loom',
  });
  // Without a listener, an idle client's error (server restart) would crash the process.
  pool.on('error', (err) => logger.warn({ err }, 'idle database connection failed'));
  const db: LoomDatabase = drizzlePg({ client: pool, schema });
  const migrateTimeoutMs = opts.migrateTimeoutMs ?? 300_000;

  const migrateLocked = async (): Promise<void> => {
    // Lock and migration share one connection: a session lock belongs to its connection.
    const client = await pool.connect();
    try {
      await client.query(`SET statement_timeout = ${migrateTimeoutMs}`);
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      try {
        await migratePg(drizzlePg({ client, schema }), { migrationsFolder: MIGRATIONS_FOLDER });
      } finally {
        // A failed unlock must not hide the migration's own error; destroying
        // the connection below releases the lock regardless.
        await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch((err: unknown) => {
          logger.warn({ err }, 'migration lock release failed; dropping the connection instead');
        });
      }
    } finally {
      // Destroy rather than reuse: the session has a changed timeout, and
      // closing it also frees the lock if the unlock above never ran.
      client.release(true);
    }
  };

  let closed: Promise<void> | undefined;
  return {
    db,
    kind: 'postgres',
    migrate: serialise(() => runMigration(migrateLocked, 'postgres', logger)),
    ping: () => ping(db),
    close: () => (closed ??= pool.end()),
  };
}

/**
 * PostgreSQL settings for the embedded database, on top of PGlite's own
 * start parameters. PGlite's default shared_buffers is 128 MB, all of it
 * touched in the WASM heap: with 16 MB (ample for Loom's few, small tables)
 * an opened PGlite cost the process about 115 MB of RSS instead of 240 MB,
 * and 8 MB saves another 8 MB of an idle embedded process (the pool is
 * touched whole; the files under it are read through the OS's page cache).
 */
export const PGLITE_SETTINGS: Readonly<Record<string, string>> = {
  shared_buffers: '8MB',
  work_mem: '2MB',
  maintenance_work_mem: '16MB',
  temp_buffers: '2MB',
  wal_buffers: '1MB',
};

function pgliteStartParams(defaults: readonly string[]): string[] {
  return [...defaults, ...Object.entries(PGLITE_SETTINGS).flatMap(([name, value]) => ['-c', `${name}=${value}`])];
}

/**
 * Creates a new PGlite data folder in a short-lived child process. initdb
 * runs a second WASM instance beside the database's own, and the ~450 MB it
 * leaves behind in the heap would otherwise stay in Loom's RSS for good;
 * in a child it goes away when the child exits. A folder that already holds
 * a cluster (PG_VERSION) is left as it is.
 */
async function initPgliteDataDir(dataDir: string, logger: Logger): Promise<void> {
  if (existsSync(path.join(dataDir, 'PG_VERSION'))) return;
  const script = 'const { PGlite } = await import(process.argv[1]); const db = await PGlite.create({ dataDir: process.argv[2] }); await db.close();';
  const started = Date.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, import.meta.resolve('@electric-sql/pglite'), dataDir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4_096);
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`PGlite initdb child exited (${String(code ?? signal)}): ${stderr}`));
    });
  });
  logger.info({ dataDir, ms: Date.now() - started }, 'embedded database folder initialised');
}

async function openPglite(dataDir: string | undefined, logger: Logger): Promise<Database> {
  // Loaded only here: PGlite's module alone adds ~40 MB of RSS to a process that uses DATABASE_URL.
  const [{ PGlite: Pglite }, { drizzle: drizzlePglite }, { migrate: migratePglite }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('drizzle-orm/pglite'),
    import('drizzle-orm/pglite/migrator'),
  ]);
  let client: PGlite;
  try {
    if (dataDir !== undefined) {
      await mkdir(dataDir, { recursive: true });
      await initPgliteDataDir(dataDir, logger);
    }
    client = await Pglite.create({ ...(dataDir === undefined ? {} : { dataDir }), startParams: pgliteStartParams(Pglite.defaultStartParams) });
  } catch (err) {
    throw new StorageError(`cannot open embedded database at ${dataDir ?? 'memory'}`, { op: 'open' }, { cause: err });
  }
  const db = drizzlePglite({ client, schema });
  let closed: Promise<void> | undefined;
  return {
    db,
    kind: 'pglite',
    // One process owns a PGlite folder, so the in-process queue is all the locking needed.
    migrate: serialise(() => runMigration(() => migratePglite(db, { migrationsFolder: MIGRATIONS_FOLDER }), 'pglite', logger)),
    ping: () => ping(db),
    close: () => (closed ??= client.close()),
  };
}

async function runMigration(apply: () => Promise<void>, kind: DatabaseKind, logger: Logger): Promise<void> {
  logger.debug({ kind, folder: MIGRATIONS_FOLDER }, 'migrating');
  try {
    await apply();
  } catch (err) {
    throw new StorageError(`applying migrations from ${MIGRATIONS_FOLDER} to ${kind} failed`, { op: 'migrate' }, { cause: err });
  }
  logger.info({ kind }, 'migrations applied');
}

async function ping(db: LoomDatabase): Promise<void> {
  try {
    await db.execute(sql`select 1`);
  } catch (err) {
    throw new StorageError('database ping failed', { op: 'ping' }, { cause: err });
  }
}

/** Wraps `fn` so overlapping calls run one after another; a failure does not block later calls. */
function serialise(fn: () => Promise<void>): () => Promise<void> {
  let tail: Promise<void> = Promise.resolve();
  return () => {
    const run = tail.then(fn, fn);
    tail = run.then(
      () => undefined,
      () => undefined, // the caller of this run receives its error; the queue only orders
    );
    return run;
  };
}
