/**
 * Uploads for job inputs. `create` records an upload owned by the caller and
 * hands out a presigned PUT for one object (`uploads/<id>/<filename>`), bound
 * to the declared content type and size; `get` reports its state; and
 * `resolveUploadInput` is what a job's input goes through: it answers with
 * the object to read or fails with an UploadError saying why not.
 *
 * An upload URL is single-use. On the filesystem store every PUT goes
 * through `receive`: the first PUT claims the upload (its URL stops working),
 * the bytes are stored only if nothing is there yet and are checked at once,
 * so the PUT itself answers complete or rejected, and every later PUT is
 * refused with nothing stored. An S3 presigned PUT cannot be made single-use,
 * so there the check runs when the object is first seen (by `get` or
 * `resolveUploadInput`): the verified object's ETag is pinned, a replaced
 * object is refused and deleted, and whatever a PUT stores after a rejection
 * is deleted when the upload is next looked at.
 *
 * The check (stored-upload-check.ts): exactly the declared size and media
 * type, and first bytes that match that type. An object that fails it is
 * deleted and the upload `rejected`.
 */
import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { ObjectTooLargeError, type ObjectBody, type PutResult } from '../../actors/ports/index.ts';
import type { Principal } from '../auth/principal.ts';
import { downloadUrl, uploads, type LoomDatabase, type ObjectInfo, type ObjectStore, type UploadStatus } from '../storage/index.ts';
import { isAllowedUploadType, ALLOWED_UPLOAD_TYPES } from './content-types.ts';
import { UploadError } from './upload-error.ts';
import { closedMessage, UploadSettler, type UploadRow } from './upload-settler.ts';

/** Options of {@link UploadService}. */
export interface UploadServiceOptions {
  readonly db: LoomDatabase;
  readonly store: ObjectStore;
  /** Largest declared size accepted, in bytes (LOOM_UPLOAD_MAX_BYTES). */
  readonly maxBytes: number;
  /** Lifetime of the PUT URL. Default 900 s. */
  readonly putTtlS?: number;
  /** Lifetime of download URLs. Default 3_600 s. */
  readonly downloadTtlS?: number;
}

/** What a client declares about the file it will upload. */
export interface NewUpload {
  readonly filename: string;
  readonly contentType: string;
  /** Exact size in bytes. */
  readonly size: number;
}

/** The answer to POST /v1/uploads. */
export interface CreatedUpload {
  readonly uploadId: string;
  readonly objectKey: string;
  readonly put: { readonly url: string; readonly method: 'GET' | 'PUT'; readonly headers: Readonly<Record<string, string>> };
  readonly expiresAt: Date;
}

/** An upload as its owner sees it. */
export interface UploadView {
  readonly uploadId: string;
  readonly objectKey: string;
  readonly filename: string;
  readonly contentType: string;
  readonly size: number;
  readonly status: UploadStatus;
  /** Why it was rejected (status `rejected`). */
  readonly rejection: string | null;
  readonly createdAt: Date;
  /** When the PUT URL expires. */
  readonly expiresAt: Date;
  readonly completedAt: Date | null;
  /** Set once complete. */
  readonly download: { readonly url: string; readonly expiresAt: Date } | null;
}

/** A job input resolved to the object it names. */
export interface ResolvedUpload {
  readonly uploadId: string;
  readonly objectKey: string;
  readonly contentType: string;
  readonly size: number;
  readonly filename: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Upload records and their objects. */
export class UploadService {
  private readonly putTtlS: number;
  private readonly downloadTtlS: number;
  private readonly settler: UploadSettler;

  constructor(private readonly opts: UploadServiceOptions) {
    this.settler = new UploadSettler(opts);
    this.putTtlS = opts.putTtlS ?? 900;
    this.downloadTtlS = opts.downloadTtlS ?? 3_600;
  }

  /**
   * Records an upload for `principal` and presigns its PUT.
   * @throws UploadError `unsupported-media-type` (415), `too-large` (413). The filename is checked by the route (isValidFilename) before this.
   */
  async create(principal: Principal, input: NewUpload): Promise<CreatedUpload> {
    if (!isAllowedUploadType(input.contentType)) {
      throw new UploadError('unsupported-media-type', `content type ${input.contentType} is not accepted; allowed: ${ALLOWED_UPLOAD_TYPES.join(', ')}`, { field: 'contentType' });
    }
    if (input.size > this.opts.maxBytes) {
      throw new UploadError('too-large', `size ${input.size} is over the ${this.opts.maxBytes}-byte upload limit`, { field: 'size' });
    }
    const uploadId = randomUUID();
    const objectKey = `uploads/${uploadId}/${safeFilename(input.filename)}`;
    const put = await this.opts.store.presignPut(objectKey, { contentType: input.contentType, maxBytes: input.size, ttlS: this.putTtlS });
    await this.opts.db.insert(uploads).values({
      id: uploadId,
      ownerId: principal.userId,
      filename: input.filename,
      contentType: input.contentType,
      size: input.size,
      objectKey,
      expiresAt: put.expiresAt,
    });
    return { uploadId, objectKey, put: { url: put.url, method: put.method, headers: put.headers }, expiresAt: put.expiresAt };
  }

  /**
   * The caller's upload, its state brought up to date with the stored object.
   * @throws UploadError `upload-not-found` (404) when absent or someone else's.
   */
  async get(principal: Principal, uploadId: string): Promise<UploadView> {
    const { row } = await this.settler.refresh(await this.find(principal, { uploadId }));
    const download = row.status === 'complete' ? await downloadUrl(this.opts.store, row.objectKey, this.downloadTtlS) : null;
    return {
      uploadId: row.id,
      objectKey: row.objectKey,
      filename: row.filename,
      contentType: row.contentType,
      size: row.size,
      status: row.status,
      rejection: row.rejection,
      createdAt: row.createdAt,
      expiresAt: row.expiresAt,
      completedAt: row.completedAt,
      download,
    };
  }

  /**
   * Resolves a job input that references an upload, by upload id or by its
   * object key, to the object a job step reads. Call it when the job is
   * created (the error becomes the 4xx of POST /v1/jobs).
   * @throws UploadError `upload-not-found` (404), `upload-incomplete` (409: never uploaded),
   *   `upload-object-missing` (409: the object is gone), `upload-rejected` (422).
   * @example const input = await uploadService.resolveUploadInput(body.input.uploadId, principal);
   */
  async resolveUploadInput(ref: string, principal: Principal): Promise<ResolvedUpload> {
    const found = await this.find(principal, UUID.test(ref) ? { uploadId: ref } : { objectKey: ref });
    const { row, object } = await this.settler.refresh(found);
    switch (row.status) {
      case 'rejected':
        throw new UploadError('upload-rejected', `upload ${row.id} was rejected: ${row.rejection ?? 'the stored file did not match'}; create a new upload`);
      case 'pending': {
        const expired = row.expiresAt.getTime() <= Date.now();
        throw new UploadError(
          'upload-incomplete',
          expired
            ? `upload ${row.id} (${row.filename}) was never uploaded and its URL expired at ${row.expiresAt.toISOString()}; create a new upload`
            : `upload ${row.id} (${row.filename}) has no file yet: PUT it to the upload URL before ${row.expiresAt.toISOString()}`,
        );
      }
      case 'complete':
        if (object === null) throw new UploadError('upload-object-missing', `the file of upload ${row.id} (${row.filename}) is no longer stored; upload it again`);
        return { uploadId: row.id, objectKey: row.objectKey, contentType: row.contentType, size: row.size, filename: row.filename };
      default: {
        const never: never = row.status;
        throw new Error(`unknown upload status ${String(never)}`);
      }
    }
  }

  /**
   * Stores the body of a PUT to an upload's signed gateway URL (filesystem
   * store), at most once: claims the upload, stores the bytes if nothing is
   * there yet, and checks them before answering.
   * @returns what was stored, or null when `objectKey` names no upload (a plain signed PUT).
   * @throws UploadError `upload-closed` (the URL was used already, or the upload is complete,
   *   rejected or expired), `too-large` (the body passed the declared size: rejected),
   *   `upload-rejected` (the stored file failed the check and was deleted).
   */
  async receive(objectKey: string, body: ObjectBody, contentType: string): Promise<PutResult | null> {
    const rows = await this.opts.db.select().from(uploads).where(eq(uploads.objectKey, objectKey)).limit(1);
    const row = rows[0];
    if (row === undefined) return null;
    // The claim is a compare-and-set on the URL's expiry: exactly one PUT moves it to now, which also ends the URL.
    const claimed =
      row.status === 'pending' && row.expiresAt.getTime() > Date.now()
        ? await this.opts.db
            .update(uploads)
            .set({ expiresAt: new Date() })
            .where(and(eq(uploads.id, row.id), eq(uploads.status, 'pending'), eq(uploads.expiresAt, row.expiresAt)))
            .returning({ id: uploads.id })
        : [];
    if (claimed.length === 0) throw new UploadError('upload-closed', closedMessage(row));
    let stored;
    try {
      stored = await this.opts.store.putIfAbsent(objectKey, body, { contentType, maxBytes: row.size });
    } catch (err) {
      if (err instanceof ObjectTooLargeError) {
        await this.settler.reject(row, 'pending', `the file is larger than the ${row.size} bytes declared`);
        throw new UploadError('too-large', `upload ${row.id} takes exactly ${row.size} bytes; it was rejected: create a new upload`, { cause: err });
      }
      // Nothing was stored (the client went away, the disk failed): the URL works again for a retry.
      await this.opts.db.update(uploads).set({ expiresAt: row.expiresAt }).where(and(eq(uploads.id, row.id), eq(uploads.status, 'pending')));
      throw err;
    }
    if (stored.existing) throw new UploadError('upload-closed', closedMessage(row));
    const settled = await this.settler.refresh(row);
    if (settled.row.status !== 'complete') {
      throw new UploadError('upload-rejected', `upload ${row.id} was rejected: ${settled.row.rejection ?? 'the stored file did not match'}; create a new upload`);
    }
    return { key: stored.key, size: stored.size, etag: stored.etag };
  }

  private async find(principal: Principal, by: { uploadId: string } | { objectKey: string }): Promise<UploadRow> {
    const ref = 'uploadId' in by ? by.uploadId : by.objectKey;
    if ('uploadId' in by && !UUID.test(by.uploadId)) throw new UploadError('upload-not-found', `no upload ${ref}`);
    const match = 'uploadId' in by ? eq(uploads.id, by.uploadId) : eq(uploads.objectKey, by.objectKey);
    const rows = await this.opts.db.select().from(uploads).where(and(match, eq(uploads.ownerId, principal.userId))).limit(1);
    const row = rows[0];
    // Someone else's upload is reported exactly like a missing one.
    if (row === undefined) throw new UploadError('upload-not-found', `no upload ${ref}`);
    return row;
  }
}

/**
 * A key segment from a client's file name: letters, digits, `.`, `_`, `-`
 * kept, anything else `_`, at most 100 characters, never starting with `.`.
 * The original name stays in the row; this only makes the key readable.
 */
export function safeFilename(filename: string): string {
  const cleaned = filename
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .slice(-100) // the tail keeps the extension
    .replace(/^[._]+/, '');
  return cleaned.length === 0 ? 'file' : cleaned;
}

/** Checks a client's file name: 1..255 characters, no control characters or path separators. */
export function isValidFilename(filename: string): boolean {
  return filename.length > 0 && filename.length <= 255 && !CONTROL.test(filename) && !/[/\\]/.test(filename) && filename !== '.' && filename !== '..';
}
