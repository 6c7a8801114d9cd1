/**
 * ObjectStore on any S3-compatible server through the `minio` client:
 * path-style requests, a fixed region (no bucket-location lookups), the
 * bucket created on first use, and every socket bounded by an idle timeout
 * (idle-timeout-agent.ts). Bodies up to one part (16 MiB) are sent in one
 * PUT with Content-MD5; larger streams are spooled to a temp file first, so
 * a failing or oversized source never strands a multipart upload.
 * `putIfAbsent` checks with HEAD and then sends `If-None-Match: *`, which
 * AWS S3 and MinIO enforce on single PUTs (a 412 means another writer won).
 * Presigned URLs are SigV4 query URLs; they cannot bind a maximum size and
 * minio does not sign Content-Type, hence `enforcesUploadLimits = false`.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Client, ItemBucketMetadata } from 'minio';
import { parseObjectKey, parseObjectKeyPrefix, type ObjectBody } from '../../../actors/ports/index.ts';
import { idleTimeoutAgent } from './idle-timeout-agent.ts';
import { meterBody } from './metered-body.ts';
import { checkContentType, checkMaxBytes, checkMetadata, checkTtl, RESERVED_METADATA_KEYS } from './object-request.ts';
import { ObjectStoreError } from './object-store-error.ts';
import type { ObjectInfo, ObjectRead, ObjectStore, PresignedRequest, PresignPutOptions, PutIfAbsentResult, PutOptions, PutResult } from './object-store.ts';

/** Connection settings for {@link S3ObjectStore}. */
export interface S3ObjectStoreOptions {
  /** `http(s)://host:port` of the S3 API; also the origin of presigned URLs. */
  readonly endpoint: string;
  readonly accessKey: string | undefined;
  readonly secretKey: string | undefined;
  readonly bucket: string;
  /** Default `us-east-1`. */
  readonly region?: string;
  /** A socket silent this long is dropped (the call fails, retryably). Default 30_000. */
  readonly idleTimeoutMs?: number;
  /** Where large stream bodies are spooled before upload. Default the OS temp folder. */
  readonly spoolDir?: string;
  /** Clock for presigning, ms since the epoch. Default Date.now. */
  readonly clock?: () => number;
}

/** One part: bodies up to this size go in a single PUT. */
const PART_BYTES = 16 * 1024 * 1024;
const DELETE_BATCH = 1_000;
const ABSENT_CODES = new Set(['NotFound', 'NoSuchKey']);

/** The S3 ObjectStore. The constructor only builds the client; the bucket is checked or created on first use. */
export class S3ObjectStore implements ObjectStore {
  readonly kind = 's3' as const;
  readonly enforcesUploadLimits = false;
  /** minio (with lodash and an XML parser: ~27 MB of RSS) is loaded only by a process that uses S3. */
  private readonly client: Promise<Client>;
  private readonly bucket: string;
  private bucketReady: Promise<void> | undefined;

  constructor(private readonly opts: S3ObjectStoreOptions) {
    const url = new URL(opts.endpoint);
    const secure = url.protocol === 'https:';
    this.bucket = opts.bucket;
    this.client = import('minio').then(({ Client: MinioClient }) => new MinioClient({
      endPoint: url.hostname,
      port: url.port === '' ? undefined : Number(url.port),
      useSSL: secure,
      accessKey: opts.accessKey ?? '',
      secretKey: opts.secretKey ?? '',
      region: opts.region ?? 'us-east-1',
      pathStyle: true,
      partSize: PART_BYTES,
      transportAgent: idleTimeoutAgent({ secure, idleTimeoutMs: opts.idleTimeoutMs ?? 30_000 }),
    }));
    // Marked handled here only: every use awaits the client and gets the failure itself.
    this.client.catch(() => undefined);
  }

  async put(key: string, body: ObjectBody, opts: PutOptions): Promise<PutResult> {
    return this.write('put', key, body, opts, false);
  }

  async putIfAbsent(key: string, body: ObjectBody, opts: PutOptions): Promise<PutIfAbsentResult> {
    const before = await this.stat(key);
    if (before !== null) return { key, size: before.size, etag: before.etag, existing: true };
    try {
      return { ...(await this.write('putIfAbsent', key, body, opts, true)), existing: false };
    } catch (err) {
      if (!(err instanceof ObjectStoreError && s3Code(err.cause) === 'PreconditionFailed')) throw err;
    }
    const winner = await this.stat(key);
    if (winner === null) throw new ObjectStoreError(`object ${key} was written and removed concurrently`, { op: 'putIfAbsent', key }, { cause: undefined });
    return { key, size: winner.size, etag: winner.etag, existing: true };
  }

  async get(key: string): Promise<ObjectRead | null> {
    const info = await this.stat(key);
    if (info === null) return null;
    try {
      return { info, body: await (await this.client).getObject(this.bucket, key) };
    } catch (err) {
      if (ABSENT_CODES.has(s3Code(err) ?? '')) return null; // deleted between HEAD and GET
      throw wrap('get', key, err);
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    parseObjectKey(key);
    await this.ensureBucket();
    try {
      const s = await (await this.client).statObject(this.bucket, key);
      const { contentType, metadata } = splitMetadata(s.metaData);
      return { key, size: s.size, etag: s.etag, contentType, metadata, lastModified: s.lastModified };
    } catch (err) {
      if (ABSENT_CODES.has(s3Code(err) ?? '')) return null;
      throw wrap('stat', key, err);
    }
  }

  async delete(key: string): Promise<void> {
    parseObjectKey(key);
    await this.ensureBucket();
    try {
      await (await this.client).removeObject(this.bucket, key);
    } catch (err) {
      if (!ABSENT_CODES.has(s3Code(err) ?? '')) throw wrap('delete', key, err);
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    parseObjectKeyPrefix(prefix);
    await this.ensureBucket();
    let removed = 0;
    try {
      let batch: string[] = [];
      const flush = async () => {
        const results = await (await this.client).removeObjects(this.bucket, batch);
        const failed = results.filter((r) => r !== null && r !== undefined && 'Error' in r);
        if (failed.length > 0) throw new Error(`S3 refused to delete ${failed.length} of ${batch.length} objects: ${JSON.stringify(failed[0]).slice(0, 300)}`);
        removed += batch.length;
        batch = [];
      };
      for await (const item of (await this.client).listObjectsV2(this.bucket, prefix, true)) {
        const name = (item as { name?: unknown }).name;
        if (typeof name !== 'string') continue;
        batch.push(name);
        if (batch.length >= DELETE_BATCH) await flush();
      }
      if (batch.length > 0) await flush();
    } catch (err) {
      throw wrap('deletePrefix', prefix, err);
    }
    return removed;
  }

  async presignGet(key: string, ttlS: number): Promise<PresignedRequest> {
    parseObjectKey(key);
    checkTtl(ttlS);
    await this.ensureBucket(); // a URL into a bucket that does not exist yet would 404
    const signedAt = new Date((this.opts.clock ?? Date.now)());
    const url = await (await this.client).presignedUrl('GET', this.bucket, key, ttlS, {}, signedAt);
    return { url, method: 'GET', headers: {}, expiresAt: new Date(signedAt.getTime() + ttlS * 1000) };
  }

  async presignPut(key: string, opts: PresignPutOptions): Promise<PresignedRequest> {
    parseObjectKey(key);
    checkContentType(opts.contentType);
    checkMaxBytes(opts.maxBytes);
    checkTtl(opts.ttlS);
    await this.ensureBucket();
    const signedAt = new Date((this.opts.clock ?? Date.now)());
    const url = await (await this.client).presignedUrl('PUT', this.bucket, key, opts.ttlS, {}, signedAt);
    return { url, method: 'PUT', headers: { 'content-type': opts.contentType }, expiresAt: new Date(signedAt.getTime() + opts.ttlS * 1000) };
  }

  async ping(): Promise<void> {
    this.bucketReady = undefined; // a probe asks the server now, not a remembered answer
    await this.ensureBucket();
  }

  /** Creates the bucket unless it exists; remembered once it worked, retried after a failure. */
  private ensureBucket(): Promise<void> {
    this.bucketReady ??= (async () => {
      try {
        if (await (await this.client).bucketExists(this.bucket)) return;
        await (await this.client).makeBucket(this.bucket, this.opts.region ?? 'us-east-1');
      } catch (err) {
        const code = s3Code(err);
        if (code === 'BucketAlreadyOwnedByYou' || code === 'BucketAlreadyExists') return; // created concurrently
        this.bucketReady = undefined;
        throw wrap('ensureBucket', undefined, err);
      }
    })();
    return this.bucketReady;
  }

  private async write(op: string, key: string, body: ObjectBody, opts: PutOptions, ifAbsent: boolean): Promise<PutResult> {
    parseObjectKey(key);
    const headers: ItemBucketMetadata = { 'Content-Type': checkContentType(opts.contentType) };
    for (const [k, v] of Object.entries(checkMetadata(opts.metadata))) headers[`x-amz-meta-${k}`] = v;
    if (ifAbsent) headers['If-None-Match'] = '*';
    const maxBytes = opts.maxBytes === undefined ? undefined : checkMaxBytes(opts.maxBytes);
    const metered = meterBody(body, key, maxBytes);
    await this.ensureBucket();
    // Read up to one part into memory; a body that ends within it goes in one PUT.
    const head: Buffer[] = [];
    let headBytes = 0;
    const iterator = metered.chunks[Symbol.asyncIterator]();
    let spool: { dir: string; file: string } | undefined;
    try {
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
        if (spool === undefined && headBytes + next.value.byteLength <= PART_BYTES) {
          head.push(next.value);
          headBytes += next.value.byteLength;
          continue;
        }
        spool ??= await this.startSpool(head);
        await appendFile(spool.file, next.value);
      }
      const source: Buffer | Readable = spool === undefined ? Buffer.concat(head, headBytes) : createReadStream(spool.file);
      const uploaded = await (await this.client).putObject(this.bucket, key, source, metered.size(), headers);
      return { key, size: metered.size(), etag: uploaded.etag };
    } catch (err) {
      throw wrap(op, key, err);
    } finally {
      await iterator.return?.(); // stops (and destroys) a source left unread by a failure
      if (spool !== undefined) await rm(spool.dir, { recursive: true, force: true });
    }
  }

  private async startSpool(head: readonly Buffer[]): Promise<{ dir: string; file: string }> {
    const dir = await mkdtemp(path.join(this.opts.spoolDir ?? os.tmpdir(), 'loom-s3-spool-'));
    const file = path.join(dir, randomBytes(8).toString('hex'));
    for (const chunk of head) await appendFile(file, chunk);
    return { dir, file };
  }
}

async function appendFile(file: string, chunk: Buffer): Promise<void> {
  const handle = await open(file, 'a');
  try {
    await handle.write(chunk);
  } finally {
    await handle.close();
  }
}

/** Splits minio's stat metadata (standard headers + user keys, prefix stripped) into content type and user metadata. */
function splitMetadata(meta: ItemBucketMetadata): { contentType: string; metadata: Record<string, string> } {
  let contentType = 'application/octet-stream';
  const metadata: Record<string, string> = {};
  for (const [rawKey, value] of Object.entries(meta)) {
    const k = rawKey.toLowerCase();
    if (k === 'content-type') contentType = String(value);
    else if (!RESERVED_METADATA_KEYS.has(k) && !k.startsWith('x-amz-')) metadata[k] = String(value);
  }
  return { contentType, metadata };
}

function s3Code(err: unknown): string | undefined {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** Public errors pass through; everything else becomes an ObjectStoreError keeping the S3 error as cause. */
function wrap(op: string, key: string | undefined, err: unknown): Error {
  if (err instanceof Error && ((err as { public?: unknown }).public === true || err instanceof ObjectStoreError)) return err;
  return new ObjectStoreError(`object store ${op} failed${key === undefined ? '' : ` for ${key}`}`, key === undefined ? { op } : { op, key }, { cause: err });
}
