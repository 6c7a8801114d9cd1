/**
 * Failures of the data-protection services (account export and deletion).
 * src/http/errors.ts maps their kind to a status like every ServiceError.
 */
import { ServiceError, type FailureKind } from '../errors/index.ts';

/** Stable codes of {@link PrivacyError}s, with the kind of failure each is. */
const KINDS = {
  /** The password re-confirming an account deletion is wrong (field `password`). */
  'password-mismatch': 'forbidden',
  /** One export per user at a time. */
  'export-in-progress': 'conflict',
  /** The account is gone (deleted while its access token still lives). */
  'account-not-found': 'not-found',
  /** Part of a deletion could not be done (an actor or store was unreachable); repeat the request. */
  'deletion-incomplete': 'unavailable',
} as const satisfies Record<string, FailureKind>;

export type PrivacyErrorCode = keyof typeof KINDS;

/** @example throw new PrivacyError('password-mismatch', 'the password is wrong', { field: 'password' }); */
export class PrivacyError extends ServiceError {
  override readonly name = 'PrivacyError';
  declare readonly code: PrivacyErrorCode;
  constructor(code: PrivacyErrorCode, message: string, options: { field?: string; retryAfterMs?: number; cause?: unknown } = {}) {
    super(KINDS[code], code, message, options);
  }
}
