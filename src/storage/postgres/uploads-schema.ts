/**
 * Uploads (issue 3): one row per `POST /v1/uploads`, owned by the principal's
 * user, naming the object the client PUTs to. `size` and `content_type` are
 * what the client declared and the presigned URL allows; the row turns
 * `complete` once the stored object is seen to match them, or `rejected`
 * (with the reason, object deleted) when it does not. Re-exported from
 * schema.ts, which drizzle-kit reads. PostgreSQL 15 SQL only. `owner_id` is
 * not a foreign key, like api_keys.user_id: the row is checked against the
 * principal, never joined.
 */
import { sql } from 'drizzle-orm';
import { bigint, check, index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

const at = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });

/** The states of an upload, in order. */
export const UPLOAD_STATUSES = ['pending', 'complete', 'rejected'] as const;
export type UploadStatus = (typeof UPLOAD_STATUSES)[number];

/** Files clients upload as job inputs. */
export const uploads = pgTable(
  'uploads',
  {
    id: uuid('id').primaryKey(),
    ownerId: uuid('owner_id').notNull(),
    filename: text('filename').notNull(),
    contentType: text('content_type').notNull(),
    /** Declared size in bytes; the stored object must have exactly this size. */
    size: bigint('size', { mode: 'number' }).notNull(),
    objectKey: text('object_key').notNull().unique('uploads_object_key_key'),
    status: text('status').$type<UploadStatus>().notNull().default('pending'),
    /** Why the stored object was refused (status `rejected`). */
    rejection: text('rejection'),
    createdAt: at('created_at').defaultNow().notNull(),
    /** When the presigned PUT URL stops working. */
    expiresAt: at('expires_at').notNull(),
    completedAt: at('completed_at'),
    /**
     * The stored object's ETag when it was verified (status `complete`). A
     * presigned S3 PUT stays usable until it expires, so a later object with
     * another ETag was put there after the checks and is refused.
     */
    etag: text('etag'),
  },
  (t) => [
    index('uploads_owner_created_idx').on(t.ownerId, t.createdAt),
    check('uploads_status_check', sql`${t.status} in ('pending', 'complete', 'rejected')`),
    check('uploads_size_check', sql`${t.size} >= 0`),
  ],
);
