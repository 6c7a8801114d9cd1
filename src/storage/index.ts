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
export { PostgresSnapshotStore, type PostgresSnapshotStoreOptions, type SnapshotInfo } from './postgres/postgres-snapshot-store.ts';
export { PostgresDocumentRegistry } from './postgres/postgres-document-registry.ts';
export { MAX_INDEXED_TEXT_CHARS, searchDocuments, type DocumentSearchHit } from './postgres/document-text-index.ts';
export { StorageError, isTransient, isUniqueViolation, type StorageErrorCode, type StorageErrorContext } from './postgres/storage-error.ts';
export { docSnapshots, documentMembers, documents } from './postgres/schema.ts';
export { apiKeys, auditLog, refreshTokens, users } from './postgres/accounts-schema.ts';
export { uploads, UPLOAD_STATUSES, type UploadStatus } from './postgres/uploads-schema.ts';
export { outboundOutbox } from './postgres/outbound-outbox-schema.ts';
export { recordOutboxEvent, type NewOutboxEvent, type OutboxWriter } from './postgres/outbound-outbox.ts';
export {
  artifactKey,
  checkContentType,
  DEFAULT_DOWNLOAD_TTL_S,
  downloadUrl,
  FsObjectStore,
  GatewayUrlError,
  GatewayUrlSigner,
  InvalidObjectKeyError,
  InvalidObjectRequestError,
  ObjectStoreError,
  ObjectTooLargeError,
  OBJECTS_ROUTE_PATH,
  openObjectStore,
  parseObjectKey,
  S3ObjectStore,
  type ArtifactStore,
  type ObjectInfo,
  type ObjectStorageConfig,
  type ObjectStore,
  type OpenedObjectStore,
  type PresignedRequest,
} from './objects/index.ts';
export { PostgresJobProjection, type JobNeedingHost } from './postgres/postgres-job-projection.ts';
export { jobDeadLetters, jobs, jobSteps } from './postgres/jobs-schema.ts';
export { PostgresAgentProjection, type AgentSessionNeedingHost } from './postgres/postgres-agent-projection.ts';
export { agentSessions } from './postgres/agent-sessions-schema.ts';
