/**
 * Builds the accounts module from a database and its config slice: the
 * services, the rate limiters and the one `authenticateToken` that HTTP and
 * the WebSocket gateway share. `src/roles/gateway-role.ts` calls it for the gateway role.
 */
import type { MiddlewareHandler } from 'hono';
import type { CredentialRevoked } from '../../protocol/revocation.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { LoomDatabase } from '../storage/index.ts';
import { AccountService } from './account-service.ts';
import { API_KEY_PREFIX, ApiKeyService } from './api-key-service.ts';
import { AuditLog } from './audit-log.ts';
import { AuthError } from './auth-error.ts';
import { resolveJwtKeys } from './jwt-keys.ts';
import { LiveSessions } from './live-sessions.ts';
import { authMiddleware } from './middleware.ts';
import { PasswordHasher, type PasswordHasherOptions } from './password-hasher.ts';
import type { AuthEnv, Principal } from './principal.ts';
import { createRateLimiter, localAsyncLimiter, type AsyncRateLimiter, type RateLimiter } from './rate-limiter.ts';
import { TokenService } from './token-service.ts';

/** The accounts module, wired. */
export interface Auth {
  readonly accounts: AccountService;
  readonly tokens: TokenService;
  readonly apiKeys: ApiKeyService;
  readonly audit: AuditLog;
  /** Token buckets: `login` keyed by IP and by account, `api` by IP and by user, `wsMessages` by connection id. */
  /** `login` and `api` are shared by every gateway when `sharedLimiter` is given; `wsMessages` counts per connection, so per process. */
  readonly limiters: { readonly login: AsyncRateLimiter; readonly api: AsyncRateLimiter; readonly wsMessages: RateLimiter };
  /** Browser origins allowed to open WebSockets (see `isOriginAllowed`). */
  readonly allowedOrigins: readonly string[];
  /** Requires credentials on a route and sets `c.get('principal')`; applies the per-user API limit. */
  readonly middleware: MiddlewareHandler<AuthEnv>;
  /**
   * The principal of a raw credential: an API key (`loom_…`) or a JWT access token.
   * @throws AuthError (unauthenticated) when it is not valid (expired, revoked, forged, unknown).
   */
  authenticateToken(raw: string): Promise<Principal>;
  /**
   * Told of a revocation another process made (the gateway's `sys.auth.revoked`
   * notices): authenticateToken stops reusing what it knew of those sessions.
   * Revocations made through this module are forgotten without it.
   */
  forgetRevoked(notice: CredentialRevoked): void;
}

/** Options of {@link createAuth}. */
export interface CreateAuthOptions {
  readonly db: LoomDatabase;
  readonly config: Pick<Config, 'auth' | 'rateLimits' | 'dataDir'>;
  readonly log: Logger;
  /** Clock in ms for tokens, keys, limits and the audit log. Default `Date.now`. */
  readonly now?: () => number;
  /** Argon2id costs; tests pass cheap ones. */
  readonly hasher?: PasswordHasherOptions;
  /** Told after an API key or sessions were revoked (the gateway role publishes it to every gateway). */
  readonly onRevoked?: ((notice: CredentialRevoked) => void) | undefined;
  /** Builds a limiter whose buckets all gateways share (src/limits); without it, buckets live in this process. */
  readonly sharedLimiter?: ((name: 'login' | 'api', limit: { capacity: number; refillPerSec: number }) => AsyncRateLimiter) | undefined;
}

/**
 * Wires the accounts module. Reads (or creates) the development JWT key when none is configured.
 * @throws JwtKeyFileError when the development key file is unusable.
 */
export async function createAuth(opts: CreateAuthOptions): Promise<Auth> {
  const { db, config, now } = opts;
  const log = opts.log.child({ component: 'auth' });
  // Assigned below, before any request can revoke: a local revocation forgets its sessions before anyone is told.
  let liveSessions: LiveSessions | undefined;
  const onRevoked = (notice: CredentialRevoked): void => {
    liveSessions?.forget(notice);
    opts.onRevoked?.(notice);
  };
  const keys = await resolveJwtKeys({ configured: config.auth.jwtKeys, dataDir: config.dataDir, log });
  const audit = new AuditLog({ db, log, now });
  const tokens = new TokenService({
    db,
    keys,
    issuer: config.auth.jwtIssuer,
    audience: config.auth.jwtAudience,
    accessTokenTtlS: config.auth.accessTokenTtlS,
    refreshTokenTtlS: config.auth.refreshTokenTtlS,
    audit,
    log,
    now,
    onRevoked,
  });
  liveSessions = new LiveSessions((sessionId) => tokens.isSessionRevoked(sessionId), now === undefined ? {} : { now });
  const sessions = liveSessions;
  const apiKeys = new ApiKeyService({ db, now, onRevoked });
  const accounts = new AccountService({ db, hasher: new PasswordHasher(opts.hasher), tokens, audit, log });
  const limiters = {
    login: opts.sharedLimiter?.('login', config.rateLimits.login) ?? localAsyncLimiter(createRateLimiter({ ...config.rateLimits.login, now })),
    api: opts.sharedLimiter?.('api', config.rateLimits.api) ?? localAsyncLimiter(createRateLimiter({ ...config.rateLimits.api, now })),
    wsMessages: createRateLimiter({ ...config.rateLimits.wsMessages, now }),
  };
  const authenticateToken = async (raw: string): Promise<Principal> => {
    if (raw.startsWith(API_KEY_PREFIX)) return apiKeys.authenticate(raw);
    const principal = await tokens.verifyAccessToken(raw);
    // Signing out (logout, refresh-token reuse, account deletion) ends the session's access tokens
    // at once, as revoking an API key does: an indexed read, reused for a second while the session
    // is live and forgotten on any revocation notice (live-sessions.ts says why that is safe).
    if (principal.sessionId !== undefined && (await sessions.isSessionRevoked(principal.userId, principal.sessionId))) {
      throw new AuthError('invalid-token', 'this session was signed out; sign in again');
    }
    return principal;
  };
  return {
    accounts,
    tokens,
    apiKeys,
    audit,
    limiters,
    allowedOrigins: config.auth.allowedOrigins,
    middleware: authMiddleware({ authenticate: authenticateToken, limiter: limiters.api }),
    authenticateToken,
    forgetRevoked: (notice) => sessions.forget(notice),
  };
}
