/**
 * ObjectStore on the local filesystem: the embedded default. Objects live
 * under one root (LOOM_DATA_DIR/objects) in the layout of fs-object-layout.ts.
 * A write streams the bytes into a fresh blob file (fsynced), then commits by
 * renaming a sidecar into place that names the blob, so readers see the old
 * object or the new one, never a mix; `putIfAbsent` commits with link(2),
 * which fails if the sidecar exists, so two writers cannot both win.
 * "Presigned" URLs are gateway URLs signed by GatewayUrlSigner and served by
 * src/http/routes/objects.ts. A crash mid-write can leave an unreferenced
 * blob file behind; it holds no object and is never served.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, rmdir, stat as fsStat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseObjectKey, parseObjectKeyPrefix, type ObjectBody } from '../../../actors/ports/index.ts';
import { blobName, metaRecordSchema, objectPaths, walkObjects, type MetaRecord, type ObjectPaths } from './fs-object-layout.ts';
import type { GatewayUrlSigner } from './gateway-url-signer.ts';
import { meterBody } from './metered-body.ts';
import { checkContentType, checkMaxBytes, checkMetadata, checkTtl } from './object-request.ts';
import { ObjectStoreError } from './object-store-error.ts';
import type {
  ObjectInfo,
  ObjectRead,
  ObjectStore,
  PresignedRequest,
  PresignPutOptions,
  PutIfAbsentResult,
  PutOptions,
  PutResult,
} from './object-store.ts';

/** Options for {@link FsObjectStore}. */
export interface FsObjectStoreOptions {
  /** Folder holding the objects; created on first write. */
  readonly root: string;
  /** Signs the gateway URLs returned by presignGet/presignPut. */
  readonly signer: GatewayUrlSigner;
  /** Clock for URL expiry, ms since the epoch. Default Date.now. */
  readonly clock?: () => number;
}

/** Attempts at reading a sidecar and opening its blob while a concurrent overwrite swaps them. */
const READ_ATTEMPTS = 3;

/** The filesystem ObjectStore. Nothing touches the disk until the first call. */
export class FsObjectStore implements ObjectStore {
  readonly kind = 'fs' as const;
  readonly enforcesUploadLimits = true;

  constructor(private readonly opts: FsObjectStoreOptions) {}

  async put(key: string, body: ObjectBody, opts: PutOptions): Promise<PutResult> {
    const { paths, record } = await this.writeBlob(key, body, opts);
    try {
      // An unreadable old sidecar is simply replaced; only its blob file is left behind.
      const previous = await this.readMeta(paths).catch(() => null);
      await writeFileAtomic(paths.meta, JSON.stringify(record));
      if (previous !== null && previous.blob !== record.blob) await unlinkIfPresent(path.join(paths.dir, previous.blob));
    } catch (err) {
      await unlinkIfPresent(path.join(paths.dir, record.blob));
      throw wrap('put', key, err);
    }
    return { key, size: record.size, etag: record.etag };
  }

  async putIfAbsent(key: string, body: ObjectBody, opts: PutOptions): Promise<PutIfAbsentResult> {
    // Cheap path first: most retries find the artifact already there and never read the body.
    const before = await this.stat(key);
    if (before !== null) return { key, size: before.size, etag: before.etag, existing: true };
    const { paths, record } = await this.writeBlob(key, body, opts);
    const temp = tempName(paths.meta);
    try {
      await writeFile(temp, JSON.stringify(record), { flag: 'wx' });
      try {
        await link(temp, paths.meta); // fails with EEXIST when another writer committed first
      } finally {
        await unlinkIfPresent(temp);
      }
      return { key, size: record.size, etag: record.etag, existing: false };
    } catch (err) {
      await unlinkIfPresent(path.join(paths.dir, record.blob));
      if (codeOf(err) !== 'EEXIST') throw wrap('putIfAbsent', key, err);
    }
    const winner = await this.stat(key);
    if (winner === null) throw new ObjectStoreError(`object ${key} was written and removed concurrently`, { op: 'putIfAbsent', key }, { cause: undefined });
    return { key, size: winner.size, etag: winner.etag, existing: true };
  }

  async get(key: string): Promise<ObjectRead | null> {
    const paths = objectPaths(this.opts.root, parseObjectKey(key));
    try {
      for (let attempt = 1; attempt <= READ_ATTEMPTS; attempt++) {
        const record = await this.readMeta(paths);
        if (record === null) return null;
        let handle;
        try {
          handle = await open(path.join(paths.dir, record.blob), 'r');
        } catch (err) {
          if (codeOf(err) === 'ENOENT') continue; // overwritten or deleted between the two reads: read the sidecar again
          throw err;
        }
        // An open descriptor keeps the bytes readable even if an overwrite unlinks the blob now.
        return { info: toInfo(key, record), body: handle.createReadStream() };
      }
      return null;
    } catch (err) {
      throw wrap('get', key, err);
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    const paths = objectPaths(this.opts.root, parseObjectKey(key));
    try {
      for (let attempt = 1; attempt <= READ_ATTEMPTS; attempt++) {
        const record = await this.readMeta(paths);
        if (record === null) return null;
        if (await exists(path.join(paths.dir, record.blob))) return toInfo(key, record);
      }
      return null;
    } catch (err) {
      throw wrap('stat', key, err);
    }
  }

  async delete(key: string): Promise<void> {
    const paths = objectPaths(this.opts.root, parseObjectKey(key));
    try {
      await this.remove(paths);
    } catch (err) {
      throw wrap('delete', key, err);
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    parseObjectKeyPrefix(prefix);
    const keyDir = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    const startDir = keyDir === '' ? this.opts.root : path.join(this.opts.root, ...keyDir.split('/').filter((s) => s !== ''));
    let removed = 0;
    try {
      const leave = (dir: string) => (dir === this.opts.root ? Promise.resolve() : removeDirIfEmpty(dir));
      for await (const found of walkObjects(startDir, keyDir, prefix, leave)) {
        if (await this.remove(found.paths)) removed++;
      }
    } catch (err) {
      throw wrap('deletePrefix', prefix, err);
    }
    return removed;
  }

  async presignGet(key: string, ttlS: number): Promise<PresignedRequest> {
    parseObjectKey(key);
    const expiresAtS = this.expiry(ttlS);
    return { url: this.opts.signer.url({ method: 'GET', key, expiresAtS }), method: 'GET', headers: {}, expiresAt: new Date(expiresAtS * 1000) };
  }

  async presignPut(key: string, opts: PresignPutOptions): Promise<PresignedRequest> {
    parseObjectKey(key);
    checkContentType(opts.contentType);
    const maxBytes = checkMaxBytes(opts.maxBytes);
    const expiresAtS = this.expiry(opts.ttlS);
    const url = this.opts.signer.url({ method: 'PUT', key, expiresAtS, contentType: opts.contentType, maxBytes });
    return { url, method: 'PUT', headers: { 'content-type': opts.contentType }, expiresAt: new Date(expiresAtS * 1000) };
  }

  async ping(): Promise<void> {
    try {
      await mkdir(this.opts.root, { recursive: true });
    } catch (err) {
      throw wrap('ping', undefined, err);
    }
  }

  private expiry(ttlS: number): number {
    return Math.floor((this.opts.clock ?? Date.now)() / 1000) + checkTtl(ttlS);
  }

  /** Streams the body into a new blob file; on any failure the file is gone again. */
  private async writeBlob(key: string, body: ObjectBody, opts: PutOptions): Promise<{ paths: ObjectPaths; record: MetaRecord }> {
    const paths = objectPaths(this.opts.root, parseObjectKey(key));
    const contentType = checkContentType(opts.contentType);
    const metadata = checkMetadata(opts.metadata);
    const maxBytes = opts.maxBytes === undefined ? undefined : checkMaxBytes(opts.maxBytes);
    const metered = meterBody(body, key, maxBytes);
    const blob = blobName(paths.base, randomBytes(16).toString('hex'));
    const file = path.join(paths.dir, blob);
    try {
      const handle = await openExclusive(paths.dir, file);
      try {
        for await (const chunk of metered.chunks) await handle.write(chunk);
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (err) {
      await unlinkIfPresent(file);
      throw wrap('put', key, err);
    }
    const record: MetaRecord = { v: 1, blob, size: metered.size(), etag: metered.md5(), contentType, metadata: { ...metadata }, lastModified: new Date().toISOString() };
    return { paths, record };
  }

  private async readMeta(paths: ObjectPaths): Promise<MetaRecord | null> {
    let text: string;
    try {
      text = await readFile(paths.meta, 'utf8');
    } catch (err) {
      if (codeOf(err) === 'ENOENT') return null;
      throw err;
    }
    const parsed = metaRecordSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(`corrupt sidecar ${paths.meta}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    return parsed.data;
  }

  /** Removes an object's sidecar, then its blob. @returns whether there was an object. */
  private async remove(paths: ObjectPaths): Promise<boolean> {
    const record = await this.readMeta(paths);
    if (record === null) return false;
    // The sidecar goes first: once it is gone the object is gone, whatever happens to the blob.
    const had = await unlinkIfPresent(paths.meta);
    await unlinkIfPresent(path.join(paths.dir, record.blob));
    return had;
  }
}

/** Opens a new file for writing, creating its folder; retries once if a concurrent deletePrefix removed the folder meanwhile. */
async function openExclusive(dir: string, file: string) {
  for (let attempt = 1; ; attempt++) {
    await mkdir(dir, { recursive: true });
    try {
      return await open(file, 'wx');
    } catch (err) {
      if (codeOf(err) !== 'ENOENT' || attempt >= 3) throw err;
    }
  }
}

/** Writes a whole file under a temp name, fsyncs it and renames it over `file`. */
async function writeFileAtomic(file: string, text: string): Promise<void> {
  const temp = tempName(file);
  try {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (err) {
    await unlinkIfPresent(temp);
    throw err;
  }
}

function tempName(file: string): string {
  return `${file}.${randomBytes(8).toString('hex')}.tmp`;
}

async function unlinkIfPresent(file: string): Promise<boolean> {
  try {
    await unlink(file);
    return true;
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return false;
    throw err;
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await fsStat(file);
    return true;
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return false;
    throw err;
  }
}

async function removeDirIfEmpty(dir: string): Promise<void> {
  try {
    await rmdir(dir);
  } catch (err) {
    // Still holding objects (or already gone): the folder stays, which is what we want.
    if (codeOf(err) !== 'ENOTEMPTY' && codeOf(err) !== 'ENOENT' && codeOf(err) !== 'EEXIST') throw err;
  }
}

function toInfo(key: string, record: MetaRecord): ObjectInfo {
  return { key, size: record.size, etag: record.etag, contentType: record.contentType, metadata: record.metadata, lastModified: new Date(record.lastModified) };
}

function codeOf(err: unknown): unknown {
  return err instanceof Error ? (err as { code?: unknown }).code : undefined;
}

/** Public errors (bad key, too large, bad request) pass through; filesystem errors become ObjectStoreErrors. */
function wrap(op: string, key: string | undefined, err: unknown): Error {
  if (err instanceof Error && ((err as { public?: unknown }).public === true || err instanceof ObjectStoreError)) return err;
  return new ObjectStoreError(`object store ${op} failed${key === undefined ? '' : ` for ${key}`}`, key === undefined ? { op } : { op, key }, { cause: err });
}
