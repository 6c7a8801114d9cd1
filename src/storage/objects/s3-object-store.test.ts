/**
 * Runs the ObjectStore contract against S3ObjectStore talking to s3rver (the
 * real S3 REST protocol, served in-process on a free port from a temp dir)
 * through the real minio client; presigned URLs are fetched over HTTP.
 *
 * s3rver does NOT verify SigV4 signatures, so a tampered presigned URL would
 * pass here: signature tampering is covered only for the gateway URLs of the
 * filesystem store (src/http/routes/objects.test.ts) and needs a real S3 or
 * MinIO for this adapter. s3rver does check presigned-URL expiry, which the
 * contract tests. It also ignores `If-None-Match`, so concurrent
 * putIfAbsent races are not tested here (the HEAD check is), and it lacks
 * the multipart-upload API, so bodies over one part (16 MiB, spooled and
 * sent as multipart) are not tested here either.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startS3rver, type S3rverHandle } from '../../testing/index.ts';
import { objectStoreContract } from '../../testing/object-store.contract.ts';
import { ObjectStoreError } from './object-store-error.ts';
import { S3ObjectStore } from './s3-object-store.ts';

let server: S3rverHandle | undefined;
const s3 = async (): Promise<S3rverHandle> => (server ??= await startS3rver());
after(async () => {
  await server?.dispose();
});

function storeOn(handle: S3rverHandle, bucket: string, clock?: () => number): S3ObjectStore {
  return new S3ObjectStore({ endpoint: handle.endpoint, accessKey: handle.accessKey, secretKey: handle.secretKey, bucket, ...(clock ? { clock } : {}) });
}

objectStoreContract('S3ObjectStore on s3rver', async () => {
  const handle = await s3();
  const bucket = `contract-${randomUUID().slice(0, 8)}`;
  return { store: storeOn(handle, bucket), withClock: (clock) => storeOn(handle, bucket, clock), close: async () => undefined };
});

describe('S3ObjectStore beyond the contract', () => {
  let handle: S3rverHandle | undefined;
  before(async () => {
    handle = await s3();
  });
  const h = (): S3rverHandle => {
    if (!handle) throw new Error('s3rver did not start');
    return handle;
  };

  it('creates its bucket on first use, and a second store on the same bucket shares it', async () => {
    const bucket = `auto-${randomUUID().slice(0, 8)}`;
    const a = storeOn(h(), bucket);
    await a.ping();
    await a.put('k', Buffer.from('x'), { contentType: 'text/plain' });
    const b = storeOn(h(), bucket);
    assert.equal((await b.stat('k'))?.size, 1);
  });

  it('presigns a PUT that works as the very first call on a new bucket', async () => {
    const store = storeOn(h(), `first-${randomUUID().slice(0, 8)}`);
    const put = await store.presignPut('first.txt', { contentType: 'text/plain', maxBytes: 2, ttlS: 60 });
    const res = await fetch(put.url, { method: 'PUT', headers: put.headers, body: 'hi' });
    await res.body?.cancel();
    assert.equal(res.status, 200);
    assert.equal((await store.stat('first.txt'))?.size, 2);
  });

  it('fails with a retryable ObjectStoreError when the server is unreachable', async () => {
    const store = new S3ObjectStore({ endpoint: 'http://127.0.0.1:1', accessKey: 'x', secretKey: 'y', bucket: 'none' });
    await assert.rejects(store.stat('k'), (err: unknown) => {
      assert.ok(err instanceof ObjectStoreError, String(err));
      assert.equal(err.code, 'object-store-unavailable');
      assert.equal(err.retryable, true);
      assert.ok(err.cause instanceof Error);
      return true;
    });
  });
});
