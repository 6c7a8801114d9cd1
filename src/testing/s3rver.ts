/**
 * s3rver.ts: an S3-compatible server for tests (s3rver, in this process),
 * on a free 127.0.0.1 port with its data in a fresh temp dir.
 *
 * It speaks the S3 REST protocol to the real minio client, which is what the
 * S3 adapter's tests need. Its limits, which tests must not lean on: it does
 * NOT verify SigV4 signatures (any signature from the S3RVER key passes;
 * presigned-URL expiry is checked), it ignores `If-None-Match` on PUT, it
 * has no multipart-upload API, and its multi-object delete sometimes answers
 * 500 when it deletes several objects of one folder (a race in its own
 * folder pruning; the minio client's one retry absorbs it). Signature
 * tampering can only be tested against a real S3 or MinIO.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

/** A running s3rver owned by a test. */
export interface S3rverHandle {
  /** `http://127.0.0.1:PORT` */
  readonly endpoint: string;
  /** The only credentials s3rver knows. */
  readonly accessKey: string;
  readonly secretKey: string;
  /** Closes open connections, stops the server and removes its temp dir. Idempotent. */
  dispose(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts s3rver on a free port.
 * @example
 *   await using s3 = await startS3rver();
 *   new S3ObjectStore({ endpoint: s3.endpoint, accessKey: s3.accessKey, secretKey: s3.secretKey, bucket: 'b' });
 */
export async function startS3rver(): Promise<S3rverHandle> {
  const directory = await mkdtemp(join(tmpdir(), 'loom-s3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, vhostBuckets: false });
  let address;
  try {
    address = await server.run();
  } catch (err) {
    await rm(directory, { recursive: true, force: true });
    throw err;
  }
  let disposed: Promise<void> | undefined;
  const dispose = () =>
    (disposed ??= (async () => {
      // Keep-alive sockets from clients would hold close() open.
      server.httpServer?.closeAllConnections();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    })());
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    accessKey: 'S3RVER',
    secretKey: 'S3RVER',
    dispose,
    [Symbol.asyncDispose]: dispose,
  };
}
