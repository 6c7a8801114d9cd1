/**
 * The state changes of an upload once its object may exist, shared by the
 * PUT path (filesystem store) and every look at an upload (S3 and both):
 * pending → complete (checked, ETag pinned) or rejected (object deleted);
 * complete → rejected when the object was replaced since. Each change is a
 * conditional update on the status it starts from, so concurrent looks
 * agree on one outcome.
 */
import { and, eq } from 'drizzle-orm';
import { eventLinks, LOOM_EVENT_TYPES, orderKeys } from '../../protocol/outbound-event-types.ts';
import { recordOutboxEvent, uploads, type LoomDatabase, type ObjectInfo, type ObjectStore, type OutboxWriter, type UploadStatus } from '../storage/index.ts';
import { checkStoredUpload } from './stored-upload-check.ts';
import { UploadError } from './upload-error.ts';

/** An upload's row. */
export type UploadRow = typeof uploads.$inferSelect;

/** Settles uploads against their stored objects. */
export class UploadSettler {
  constructor(private readonly opts: { readonly db: LoomDatabase; readonly store: ObjectStore }) {}

  /**
   * Brings an upload up to date with its stored object: a pending upload with
   * an object completes (ETag pinned) or is rejected; a complete one whose
   * object changed since is rejected; a rejected one keeps no object.
   */
  async refresh(row: UploadRow): Promise<{ row: UploadRow; object: ObjectInfo | null }> {
    switch (row.status) {
      case 'rejected':
        // An S3 presigned PUT still works after a rejection: nothing it stores is kept.
        if ((await this.opts.store.stat(row.objectKey)) !== null) await this.opts.store.delete(row.objectKey);
        return { row, object: null };
      case 'complete': {
        const object = await this.opts.store.stat(row.objectKey);
        if (object === null || row.etag === null || object.etag === row.etag) return { row, object };
        return this.reject(row, 'complete', 'the file was replaced after the upload completed');
      }
      case 'pending': {
        const { object, mismatch } = await checkStoredUpload(this.opts.store, row);
        if (object === null) return { row, object };
        if (mismatch !== null) return this.reject(row, 'pending', mismatch);
        const completedAt = new Date();
        const done = await this.opts.db.transaction(async (tx) => {
          const changed = await tx
            .update(uploads)
            .set({ status: 'complete', completedAt, etag: object.etag })
            .where(and(eq(uploads.id, row.id), eq(uploads.status, 'pending')))
            .returning({ id: uploads.id });
          // `upload.completed` commits with the status change (issue 9's outbox).
          if (changed.length > 0) await recordUploadCompleted(tx, row, completedAt);
          return changed;
        });
        // Settled by a concurrent look: report what it became.
        if (done.length === 0) return this.refresh(await this.reload(row));
        return { row: { ...row, status: 'complete', completedAt, etag: object.etag }, object };
      }
      default: {
        const never: never = row.status;
        throw new Error(`unknown upload status ${String(never)}`);
      }
    }
  }

  /** Marks the upload rejected (if it is still `from`), then deletes its object. */
  async reject(row: UploadRow, from: UploadStatus, reason: string): Promise<{ row: UploadRow; object: null }> {
    // Row first: if the delete then fails, the upload is still refused.
    const changed = await this.opts.db
      .update(uploads)
      .set({ status: 'rejected', rejection: reason })
      .where(and(eq(uploads.id, row.id), eq(uploads.status, from)))
      .returning({ id: uploads.id });
    if (changed.length === 0) {
      const now = await this.reload(row);
      if (now.status !== 'rejected') return this.refresh(now) as Promise<{ row: UploadRow; object: null }>;
    }
    await this.opts.store.delete(row.objectKey);
    return { row: { ...row, status: 'rejected', rejection: reason }, object: null };
  }

  private async reload(row: UploadRow): Promise<UploadRow> {
    const rows = await this.opts.db.select().from(uploads).where(eq(uploads.id, row.id)).limit(1);
    const now = rows[0];
    if (now === undefined) throw new UploadError('upload-not-found', `no upload ${row.id}`);
    return now;
  }
}

function recordUploadCompleted(tx: OutboxWriter, row: UploadRow, at: Date): Promise<unknown> {
  return recordOutboxEvent(tx, {
    type: LOOM_EVENT_TYPES.uploadCompleted,
    ownerIds: [row.ownerId],
    orderKey: orderKeys.upload(row.id),
    data: { uploadId: row.id, contentType: row.contentType, bytes: row.size, link: eventLinks.upload(row.id) },
    at,
  });
}

/** Why a PUT to this upload's URL is refused. */
export function closedMessage(row: UploadRow): string {
  switch (row.status) {
    case 'complete':
      return `upload ${row.id} is complete; its URL cannot replace the file. Create a new upload for another file`;
    case 'rejected':
      return `upload ${row.id} was rejected (${row.rejection ?? 'the file did not match'}); its URL stores nothing more. Create a new upload`;
    case 'pending':
      return `the URL of upload ${row.id} was used already or has expired; it takes one PUT. Create a new upload if that one failed`;
    default: {
      const never: never = row.status;
      throw new Error(`unknown upload status ${String(never)}`);
    }
  }
}
