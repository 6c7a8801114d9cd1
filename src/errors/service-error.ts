/**
 * The base of the errors Loom's services raise (accounts, documents,
 * uploads, ...). A service says what kind of failure happened, never how a
 * wire shows it: src/http/errors.ts maps each kind to an HTTP status, the
 * gateways map auth failures to close codes, job steps map them to terminal
 * failures. Subclasses (AuthError, UploadError, DocumentError) fix the codes
 * of their service and the kind of each code.
 */

/**
 * What went wrong, in terms every edge can translate:
 * - `invalid`: the request names something malformed (`field` says which)
 * - `unauthenticated`: no valid credentials; `forbidden`: not allowed
 * - `not-found`: absent or not visible to the caller
 * - `conflict`: contradicts the current state (taken, not ready, already done)
 * - `too-large`: over a size limit; `unsupported-type`: media type not accepted
 * - `refused`: well-formed, but its content is refused (a file that is not what it claims)
 * - `rate-limited`: retry after `retryAfterMs`; `unavailable`: a dependency is down, retry
 */
export const FAILURE_KINDS = [
  'invalid',
  'unauthenticated',
  'forbidden',
  'not-found',
  'conflict',
  'too-large',
  'unsupported-type',
  'refused',
  'rate-limited',
  'unavailable',
] as const;
export type FailureKind = (typeof FAILURE_KINDS)[number];

/** Details a {@link ServiceError} may carry. */
export interface ServiceErrorOptions {
  /** The input field at fault, dotted path (e.g. `scopes.0`). */
  readonly field?: string | undefined;
  /** When the caller may try again (rate limits). */
  readonly retryAfterMs?: number | undefined;
  /** Every fault, when a document has several (a pipeline definition): JSON-pointer path and message each. */
  readonly problems?: readonly { readonly path: string; readonly message: string }[] | undefined;
  readonly cause?: unknown;
}

const RETRYABLE_KINDS: ReadonlySet<FailureKind> = new Set<FailureKind>(['rate-limited', 'unavailable']);

/**
 * A failure a service reports to whoever called it: a stable kebab-case
 * `code` clients switch on, its `kind`, a message meant for the client
 * (`public`), and optionally the field at fault and a retry delay.
 * @example throw new DocumentError('owner-fixed', "the document's creator stays its owner", { field: 'userId' });
 */
export class ServiceError extends Error {
  override readonly name: string = 'ServiceError';
  /** Safe to show to the client as it is. */
  readonly public: boolean = true;
  readonly field: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly problems: readonly { readonly path: string; readonly message: string }[] | undefined;

  constructor(
    readonly kind: FailureKind,
    readonly code: string,
    message: string,
    options: ServiceErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.field = options.field;
    this.retryAfterMs = options.retryAfterMs;
    this.problems = options.problems;
  }

  /** Whether the same request may succeed later without a change. */
  get retryable(): boolean {
    return RETRYABLE_KINDS.has(this.kind);
  }
}

/** A request field that is not usable (`kind` invalid, code `invalid-request`). */
export class InvalidInputError extends ServiceError {
  override readonly name: string = 'InvalidInputError';
  constructor(field: string, message: string, options: { cause?: unknown } = {}) {
    super('invalid', 'invalid-request', `${field}: ${message}`, { field, cause: options.cause });
  }
}

/** Too many requests from one caller; retry after `retryAfterMs`. */
export class RateLimitedError extends ServiceError {
  override readonly name: string = 'RateLimitedError';
  constructor(message: string, retryAfterMs: number) {
    super('rate-limited', 'rate-limited', message, { retryAfterMs });
  }
}
