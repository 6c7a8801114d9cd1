/**
 * What goes wrong with an upload, as HTTP errors (the app renders them; the
 * job engine turns them into a clear job failure). Codes:
 * - 404 `upload-not-found`: no such upload, or not the caller's
 * - 409 `upload-incomplete`: the file was never PUT (or not yet)
 * - 409 `upload-object-missing`: it was stored, but the object is gone now
 * - 413 `too-large`: declared size over LOOM_UPLOAD_MAX_BYTES
 * - 415 `unsupported-media-type`: content type not on the allow-list
 * - 422 `upload-rejected`: the stored object did not match what was declared
 */
import { HttpError, type HttpErrorStatus } from '../http/errors.ts';

/** Stable codes of {@link UploadError}. */
export type UploadErrorCode =
  | 'upload-not-found'
  | 'upload-incomplete'
  | 'upload-object-missing'
  | 'too-large'
  | 'unsupported-media-type'
  | 'upload-rejected';

const STATUS: Record<UploadErrorCode, HttpErrorStatus> = {
  'upload-not-found': 404,
  'upload-incomplete': 409,
  'upload-object-missing': 409,
  'too-large': 413,
  'unsupported-media-type': 415,
  'upload-rejected': 422,
};

/** A refused upload operation; public, with a message that says what to do. */
export class UploadError extends HttpError {
  override readonly name: string = 'UploadError';
  constructor(
    override readonly code: UploadErrorCode,
    message: string,
    options: { field?: string; cause?: unknown } = {},
  ) {
    super(STATUS[code], code, message, options);
  }
}
