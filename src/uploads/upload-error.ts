/**
 * What goes wrong with an upload, by stable code (src/http/errors.ts gives
 * each kind its status; the job engine turns them into a clear job failure):
 * - `upload-not-found` (not-found): no such upload, or not the caller's
 * - `upload-incomplete` (conflict): the file was never PUT (or not yet)
 * - `upload-object-missing` (conflict): it was stored, but the object is gone now
 * - `upload-closed` (conflict): the upload URL was used already (complete or rejected); create a new upload
 * - `too-large` (too-large): declared or sent size over the limit
 * - `unsupported-media-type` (unsupported-type): content type not on the allow-list
 * - `upload-rejected` (refused): the stored file did not match what was declared
 */
import { type FailureKind, ServiceError } from '../errors/index.ts';

/** Stable codes of {@link UploadError}. */
export type UploadErrorCode =
  | 'upload-not-found'
  | 'upload-incomplete'
  | 'upload-object-missing'
  | 'upload-closed'
  | 'too-large'
  | 'unsupported-media-type'
  | 'upload-rejected';

const KIND: Record<UploadErrorCode, FailureKind> = {
  'upload-not-found': 'not-found',
  'upload-incomplete': 'conflict',
  'upload-object-missing': 'conflict',
  'upload-closed': 'conflict',
  'too-large': 'too-large',
  'unsupported-media-type': 'unsupported-type',
  'upload-rejected': 'refused',
};

/** A refused upload operation; public, with a message that says what to do. */
export class UploadError extends ServiceError {
  override readonly name: string = 'UploadError';
  declare readonly code: UploadErrorCode;
  constructor(code: UploadErrorCode, message: string, options: { field?: string; cause?: unknown } = {}) {
    super(KIND[code], code, message, options);
  }
}
