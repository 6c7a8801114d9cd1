/**
 * auth/: accounts, credentials, the audit log and rate limits — the public
 * face of the accounts module. `createAuth` wires it from a database; the
 * HTTP routers live in src/http/routes/ (auth, api-keys, audit); the
 * WebSocket gateway uses `extractUpgradeToken`, `authenticateToken`,
 * `isOriginAllowed`, `selectSubprotocol` and a `RateLimiter` per connection.
 */
export { AccountService, type RequestContext, type UserRecord } from './account-service.ts';
export { API_KEY_PREFIX, ApiKeyLimitError, ApiKeyService, type ApiKeyRecord } from './api-key-service.ts';
export {
  AUDIT_ACTIONS,
  AUDIT_TARGET_TYPES,
  AuditLog,
  MAX_AUDIT_DETAIL_CHARS,
  type AuditAction,
  type AuditActor,
  type AuditEntry,
  type AuditEvent,
  type AuditTargetType,
} from './audit-log.ts';
export { AccountError, AUTH_ERROR_CODES, AuthError, type AuthErrorCode } from './auth-error.ts';
export { createAuth, type Auth, type CreateAuthOptions } from './create-auth.ts';
export { DEV_KEY_FILE, JwtKeyFileError, resolveJwtKeys } from './jwt-keys.ts';
export { authMiddleware, requireScope, requireUser, type AuthMiddlewareOptions } from './middleware.ts';
export { MAX_PASSWORD_CHARS, PasswordHasher, type PasswordHasherOptions } from './password-hasher.ts';
export { API_SCOPES, hasScope, type ApiScope, type AuthEnv, type Principal } from './principal.ts';
export { createRateLimiter, localAsyncLimiter, type AsyncRateLimiter, type RateLimiter, type RateLimiterOptions, type RateLimitResult } from './rate-limiter.ts';
export { REFRESH_TOKEN_PREFIX, sha256, TokenService, type TokenPair, type TokenServiceOptions } from './token-service.ts';
export {
  BEARER_SUBPROTOCOL_PREFIX,
  bearerToken,
  extractUpgradeToken,
  isOriginAllowed,
  LOOM_SUBPROTOCOL,
  selectSubprotocol,
  TOKEN_QUERY_PARAM,
  type TokenSource,
} from './upgrade-token.ts';
