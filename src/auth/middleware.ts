/**
 * Hono middleware for authenticated routes. `authMiddleware` reads
 * `Authorization: Bearer <jwt | loom_…>` or `X-Api-Key: loom_…`, sets
 * `c.get('principal')`, and applies the per-principal API rate limit;
 * `requireScope` and `requireUser` narrow what the principal may do.
 */
import { createMiddleware } from 'hono/factory';
import type { MiddlewareHandler } from 'hono';
import { RateLimitedError } from '../errors/index.ts';
import { AuthError } from './auth-error.ts';
import type { ApiScope, AuthEnv, Principal } from './principal.ts';
import type { AsyncRateLimiter } from './rate-limiter.ts';
import { bearerToken } from './upgrade-token.ts';

/** Options of {@link authMiddleware}. */
export interface AuthMiddlewareOptions {
  /** Turns a raw credential into a principal; throws AuthError when it is not valid. */
  authenticate(raw: string): Promise<Principal>;
  /** Token bucket per user (API keys share their owner's bucket). */
  readonly limiter?: AsyncRateLimiter | undefined;
}

/**
 * Requires credentials; sets `principal`.
 * @throws AuthError (`unauthenticated`, `invalid-token`, `token-expired`, `invalid-api-key`), RateLimitedError `rate-limited`.
 */
export function authMiddleware(opts: AuthMiddlewareOptions): MiddlewareHandler<AuthEnv> {
  return createMiddleware<AuthEnv>(async (c, next) => {
    const raw = bearerToken(c.req.header('authorization')) ?? c.req.header('x-api-key')?.trim() ?? null;
    if (raw === null || raw === '') throw new AuthError('unauthenticated', 'credentials required: Authorization: Bearer <token> or X-Api-Key');
    const principal = await opts.authenticate(raw);
    if (opts.limiter !== undefined) {
      const r = await opts.limiter.take(`user:${principal.userId}`);
      if (!r.ok) throw new RateLimitedError('too many requests', r.retryAfterMs);
    }
    c.set('principal', principal);
    await next();
  });
}

/**
 * Requires an API key scope (users' own tokens hold every scope). Mount after {@link authMiddleware}.
 * @throws AuthError (forbidden) `insufficient-scope`.
 */
export function requireScope(scope: ApiScope): MiddlewareHandler<AuthEnv> {
  return createMiddleware<AuthEnv>(async (c, next) => {
    if (!c.get('principal').scopes.has(scope)) throw new AuthError('insufficient-scope', `this API key lacks the ${scope} scope`);
    await next();
  });
}

/**
 * Requires a signed-in user rather than an API key (key management, audit, logout). Mount after {@link authMiddleware}.
 * @throws AuthError (forbidden) `user-required`.
 */
export function requireUser(): MiddlewareHandler<AuthEnv> {
  return createMiddleware<AuthEnv>(async (c, next) => {
    if (c.get('principal').kind !== 'user') throw new AuthError('user-required', 'API keys cannot do this; sign in as the user');
    await next();
  });
}
