/**
 * Storage adapters: the public face of `src/storage/`. Today that is the
 * PostgreSQL/PGlite database and the snapshot store built on it; `main.ts`
 * opens the database and hands the store to the document actors.
 */
export {
  embeddedDataDir,
  openDatabase,
  MIGRATION_LOCK_KEY,
  MIGRATIONS_FOLDER,
  type Database,
  type DatabaseKind,
  type LoomDatabase,
  type OpenDatabaseOptions,
} from './postgres/database.ts';
export { PostgresSnapshotStore, type PostgresSnapshotStoreOptions } from './postgres/postgres-snapshot-store.ts';
export { StorageError, isTransient, type StorageErrorCode, type StorageErrorContext } from './postgres/storage-error.ts';
export { docSnapshots, documents } from './postgres/schema.ts';
