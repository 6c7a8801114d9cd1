/**
 * Errors of the ObjectStore adapters. ObjectStoreError wraps a backend
 * failure (filesystem, S3) with the operation and key, keeps the original as
 * `cause`, and classifies it: connection trouble, timeouts and S3 5xx/slow-down
 * are retryable, the rest terminal. It is internal (never shown to clients).
 * InvalidObjectRequestError is public: the caller's content type, metadata or
 * ttl is unusable.
 */
import { ServiceError } from '../../errors/index.ts';

/** `object-store-unavailable` may succeed on retry; `object-store-failed` will not without a change. */
export type ObjectStoreErrorCode = 'object-store-unavailable' | 'object-store-failed';

/** A failed object-storage call, with its context and the backend error as `cause`. */
export class ObjectStoreError extends Error {
  override readonly name = 'ObjectStoreError';
  readonly public = false;
  readonly code: ObjectStoreErrorCode;
  constructor(
    message: string,
    readonly context: { readonly op: string; readonly key?: string },
    options: { cause: unknown },
  ) {
    super(message, options);
    this.code = isTransientObjectError(options.cause) ? 'object-store-unavailable' : 'object-store-failed';
  }
  get retryable(): boolean {
    return this.code === 'object-store-unavailable';
  }
}

/** A content type, metadata map or ttl an adapter cannot store or sign. */
export class InvalidObjectRequestError extends ServiceError {
  override readonly name = 'InvalidObjectRequestError';
  constructor(message: string) {
    super('invalid', 'invalid-object-request', message);
  }
}

const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EMFILE', 'ENFILE', 'EBUSY']);
const TRANSIENT_S3_CODES = new Set(['SlowDown', 'ServiceUnavailable', 'InternalError', 'RequestTimeout', 'RequestTimeTooSkewed']);

/** Whether an error (or anything in its cause chain) is worth retrying. */
export function isTransientObjectError(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (TRANSIENT_NODE_CODES.has(code) || TRANSIENT_S3_CODES.has(code))) return true;
    if (/socket idle timeout|Retryable HTTP status: 5\d\d/i.test(e.message)) return true;
  }
  return false;
}
