/**
 * The servers the upload tests share, started once per test file: an
 * in-memory PGlite migrated from migrations/, a filesystem object gateway
 * whose upload PUTs go through an UploadService (as in the gateway role),
 * and s3rver. Call {@link useUploadsFixture} at the top of a test file.
 */
import { randomUUID } from 'node:crypto';
import { after, before } from 'node:test';
import { createRootLogger } from '../log.ts';
import { openDatabase, S3ObjectStore, type Database, type LoomDatabase } from '../storage/index.ts';
import { startObjectGateway, startS3rver, type ObjectGatewayHandle, type S3rverHandle } from './index.ts';
import { UploadService } from '../uploads/index.ts';

export interface UploadsFixture {
  db(): LoomDatabase;
  gateway(): ObjectGatewayHandle;
  /** An S3 store on a fresh bucket. */
  s3Store(): S3ObjectStore;
}

/** Registers before/after hooks that start and stop the servers. */
export function useUploadsFixture(maxBytes: number): UploadsFixture {
  const log = createRootLogger({ level: 'silent', instanceId: 'test' });
  let database: Database | undefined;
  let gw: ObjectGatewayHandle | undefined;
  let s3: S3rverHandle | undefined;
  before(async () => {
    database = await openDatabase({ logger: log });
    await database.migrate();
    const db = database.db;
    gw = await startObjectGateway({ uploads: (store) => new UploadService({ db, store, maxBytes }) });
    s3 = await startS3rver();
  });
  after(async () => {
    await database?.close();
    await gw?.dispose();
    await s3?.dispose();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the uploads fixture has not started');
    return value;
  };
  return {
    db: () => started(database).db,
    gateway: () => started(gw),
    s3Store: () => {
      const { endpoint, accessKey, secretKey } = started(s3);
      return new S3ObjectStore({ endpoint, accessKey, secretKey, bucket: `uploads-${randomUUID().slice(0, 8)}` });
    },
  };
}
