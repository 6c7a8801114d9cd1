/**
 * Authentication and authorisation failures. They are HttpErrors, so routes
 * just throw them; the WebSocket gateway maps `status` to close codes 4401 and
 * 4403. Messages never contain the credential itself.
 */
import { HttpError } from '../http/errors.ts';

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

/** 401 (who are you?) or 403 (not allowed) with a stable code. */
export class AuthError extends HttpError {
  override readonly name = 'AuthError';
  constructor(
    override readonly status: 401 | 403,
    override readonly code: AuthErrorCode,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(status, code, message, options);
  }
}
