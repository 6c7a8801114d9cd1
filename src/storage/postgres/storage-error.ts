/**
 * The one error type the PostgreSQL adapters throw. It names the operation
 * and the document/seq involved, keeps the driver's error as `cause` (drizzle
 * 0.45 wraps driver errors in a DrizzleQueryError whose own `cause` is the
 * `pg`/PGlite error), and classifies it: connection loss, timeouts,
 * shutdowns, deadlocks and serialization failures are retryable; constraint
 * or syntax errors are terminal. Storage errors are never shown to clients.
 */

/** `storage-unavailable` may succeed on retry; `storage-failed` will not without a change. */
export type StorageErrorCode = 'storage-unavailable' | 'storage-failed';

/** What was being done when a storage call failed; logged with the error. */
export interface StorageErrorContext {
  readonly op: string;
  readonly docId?: string;
  readonly seq?: number;
}

/** A failed storage operation, with its context and the driver error as `cause`. */
export class StorageError extends Error {
  override readonly name = 'StorageError';
  /** Internal detail: map to a generic code at the edge. */
  readonly public = false;
  readonly code: StorageErrorCode;

  constructor(
    message: string,
    readonly context: StorageErrorContext,
    options: { cause: unknown },
  ) {
    super(message, options);
    this.code = isTransient(options.cause) ? 'storage-unavailable' : 'storage-failed';
  }

  get retryable(): boolean {
    return this.code === 'storage-unavailable';
  }
}

/** SQLSTATE classes/codes worth retrying: connection (08), resources (53), operator intervention (57), lock/serialization. */
const TRANSIENT_SQLSTATE = /^(08|53|57)|^(40001|40P01|55P03)$/;
const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** pg and pg-pool raise these without a code. */
const TRANSIENT_MESSAGE = /timeout exceeded when trying to connect|Connection terminated|Client has encountered a connection error/i;

/** Whether an error (or anything in its cause chain) is a transient infrastructure failure. */
export function isTransient(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (TRANSIENT_SQLSTATE.test(code) || TRANSIENT_NODE_CODES.has(code))) return true;
    if (TRANSIENT_MESSAGE.test(e.message)) return true;
  }
  return false;
}

/**
 * Whether an error (or its cause chain) is a unique-constraint violation
 * (SQLSTATE 23505), optionally of the named constraint or index.
 */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const { code, constraint: name } = e as { code?: unknown; constraint?: unknown };
    if (code === '23505') return constraint === undefined || name === constraint || e.message.includes(constraint);
  }
  return false;
}

/**
 * Whether an error (or its cause chain) is a foreign-key violation (SQLSTATE
 * 23503), optionally of the named constraint.
 */
export function isForeignKeyViolation(err: unknown, constraint?: string): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const { code, constraint: name } = e as { code?: unknown; constraint?: unknown };
    if (code === '23503') return constraint === undefined || name === constraint || e.message.includes(constraint);
  }
  return false;
}
