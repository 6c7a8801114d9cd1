/**
 * Authentication and authorisation failures of the accounts module. Each
 * code is either `unauthenticated` (who are you?) or `forbidden` (not
 * allowed); src/http/errors.ts turns them into 401/403 and the WebSocket
 * gateways into close codes 4401/4403. Messages never contain the credential.
 */
import { ServiceError } from '../errors/index.ts';

/** Stable codes of {@link AuthError}s. */
export const AUTH_ERROR_CODES = {
  /** No credentials at all. */
  unauthenticated: 'unauthenticated',
  /** A malformed, forged, foreign or unknown-key access token. */
  invalidToken: 'invalid-token',
  tokenExpired: 'token-expired',
  /** Wrong email or password (never says which). */
  invalidCredentials: 'invalid-credentials',
  /** Unknown, expired, revoked or reused refresh token. */
  invalidRefreshToken: 'invalid-refresh-token',
  /** Unknown or revoked API key. */
  invalidApiKey: 'invalid-api-key',
  /** An API key without the scope the route needs. */
  insufficientScope: 'insufficient-scope',
  /** The route is for signed-in users, not API keys. */
  userRequired: 'user-required',
} as const;
export type AuthErrorCode = (typeof AUTH_ERROR_CODES)[keyof typeof AUTH_ERROR_CODES];

/** Codes that mean "known, but not allowed"; every other code means "not known". */
const FORBIDDEN_CODES: ReadonlySet<AuthErrorCode> = new Set<AuthErrorCode>(['insufficient-scope', 'user-required']);

/**
 * Credentials missing or not valid (`kind` unauthenticated), or valid but not
 * enough (`kind` forbidden), with a stable code.
 * @example throw new AuthError('insufficient-scope', 'this API key lacks the docs:write scope');
 */
export class AuthError extends ServiceError {
  override readonly name = 'AuthError';
  declare readonly code: AuthErrorCode;
  constructor(code: AuthErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(FORBIDDEN_CODES.has(code) ? 'forbidden' : 'unauthenticated', code, message, options);
  }
}

/** An account operation refused by the state of the accounts (`email-taken`: conflict, field `email`). */
export class AccountError extends ServiceError {
  override readonly name = 'AccountError';
  declare readonly code: 'email-taken';
  constructor(code: 'email-taken', message: string, options: { field?: string; cause?: unknown } = {}) {
    super('conflict', code, message, options);
  }
}
