/**
 * /v1/auth: register, login, refresh, logout, me. Register and login are
 * rate limited per client IP and (login) per account with the strict login
 * bucket; a successful login refills its account's bucket. Tokens are
 * returned in the body, never in cookies, so no CSRF surface is added.
 */
import { createRoute, z } from '@hono/zod-openapi';
import type { Auth } from '../../auth/create-auth.ts';
import { requireUser } from '../../auth/middleware.ts';
import { MAX_PASSWORD_CHARS } from '../../auth/password-hasher.ts';
import { API_SCOPES } from '../../auth/principal.ts';
import type { AsyncRateLimiter } from '../../auth/rate-limiter.ts';
import type { TokenPair } from '../../auth/token-service.ts';
import type { UserRecord } from '../../auth/account-service.ts';
import { HttpError } from '../errors.ts';
import { createRouter, errorResponses, jsonContent, SECURITY, type Router } from '../router.ts';
import { safeText } from '../safe-text.ts';

/** Shortest password accepted at registration. */
export const MIN_PASSWORD_CHARS = 8;

const email = safeText().trim().max(254).email().openapi({ example: 'ada@example.com' });

const credentialsSchema = z
  .object({ email, password: safeText().min(1).max(MAX_PASSWORD_CHARS).openapi({ format: 'password' }) })
  .strict()
  .openapi('Credentials');
const registrationSchema = z
  .object({ email, password: safeText().min(MIN_PASSWORD_CHARS).max(MAX_PASSWORD_CHARS).openapi({ format: 'password' }) })
  .strict()
  .openapi('Registration');
const refreshSchema = z.object({ refreshToken: safeText().min(1).max(200) }).strict().openapi('RefreshRequest');
const logoutSchema = z
  .object({ all: z.boolean().optional().openapi({ description: 'Revoke every session of the user, not just this one' }) })
  .strict()
  .openapi('LogoutRequest');

const userSchema = z.object({ id: z.string().uuid(), email: z.string(), createdAt: z.string().datetime() }).openapi('User');
const tokensSchema = z
  .object({
    tokenType: z.literal('Bearer'),
    accessToken: z.string().openapi({ description: 'JWT; send as Authorization: Bearer' }),
    accessTokenExpiresAt: z.string().datetime(),
    expiresIn: z.number().int().openapi({ description: 'Access token lifetime, seconds' }),
    refreshToken: z.string().openapi({ description: 'Opaque; exchange at /v1/auth/refresh (single use: each refresh returns a new one)' }),
    refreshTokenExpiresAt: z.string().datetime(),
    sessionId: z.string().uuid(),
  })
  .openapi('Tokens');
const sessionSchema = z.object({ user: userSchema, tokens: tokensSchema }).openapi('Session');
const meSchema = z
  .object({
    user: userSchema,
    principal: z.object({
      kind: z.enum(['user', 'api-key']),
      keyId: z.string().uuid().nullable(),
      sessionId: z.string().uuid().nullable(),
      scopes: z.array(z.enum(API_SCOPES)),
    }),
  })
  .openapi('Me');

const body = <T extends z.ZodTypeAny>(schema: T, required = true) => ({ required, content: { 'application/json': { schema } } });

const registerRoute = createRoute({
  method: 'post',
  path: '/register',
  tags: ['auth'],
  summary: 'Create an account and sign in',
  request: { body: body(registrationSchema) },
  responses: { 201: jsonContent(sessionSchema, 'Account created; signed in'), ...errorResponses(400, 409, 413, 429) },
});
const loginRoute = createRoute({
  method: 'post',
  path: '/login',
  tags: ['auth'],
  summary: 'Sign in with email and password',
  request: { body: body(credentialsSchema) },
  responses: { 200: jsonContent(sessionSchema, 'Signed in'), ...errorResponses(400, 401, 413, 429) },
});
const refreshRoute = createRoute({
  method: 'post',
  path: '/refresh',
  tags: ['auth'],
  summary: 'Exchange a refresh token for new tokens (rotation; reuse revokes the session)',
  request: { body: body(refreshSchema) },
  responses: { 200: jsonContent(tokensSchema, 'New tokens'), ...errorResponses(400, 401, 413, 429) },
});

const userJson = (u: UserRecord) => ({ id: u.id, email: u.email, createdAt: u.createdAt.toISOString() });

async function rateLimit(limiter: AsyncRateLimiter, key: string): Promise<void> {
  const r = await limiter.take(key);
  if (!r.ok) throw new HttpError(429, 'rate-limited', 'too many attempts; try again later', { retryAfterMs: r.retryAfterMs });
}

/** The /v1/auth router. */
export function authRoutes(auth: Auth): Router {
  const router = createRouter();
  const tokensJson = (t: TokenPair) => ({
    tokenType: 'Bearer' as const,
    accessToken: t.accessToken,
    accessTokenExpiresAt: t.accessTokenExpiresAt.toISOString(),
    expiresIn: auth.tokens.accessTokenTtlS,
    refreshToken: t.refreshToken,
    refreshTokenExpiresAt: t.refreshTokenExpiresAt.toISOString(),
    sessionId: t.sessionId,
  });

  router.openapi(registerRoute, async (c) => {
    await rateLimit(auth.limiters.login, `register-ip:${c.get('clientIp')}`);
    const { user, tokens } = await auth.accounts.register(c.req.valid('json'), { ip: c.get('clientIp') });
    return c.json({ user: userJson(user), tokens: tokensJson(tokens) }, 201);
  });

  router.openapi(loginRoute, async (c) => {
    const input = c.req.valid('json');
    const accountKey = `login-account:${input.email.toLowerCase()}`;
    await rateLimit(auth.limiters.login, `login-ip:${c.get('clientIp')}`);
    await rateLimit(auth.limiters.login, accountKey);
    const { user, tokens } = await auth.accounts.login(input, { ip: c.get('clientIp') });
    await auth.limiters.login.reset(accountKey);
    return c.json({ user: userJson(user), tokens: tokensJson(tokens) }, 200);
  });

  router.openapi(refreshRoute, async (c) => {
    const tokens = await auth.tokens.refresh(c.req.valid('json').refreshToken, { ip: c.get('clientIp') });
    return c.json(tokensJson(tokens), 200);
  });

  router.openapi(
    createRoute({
      method: 'post',
      path: '/logout',
      tags: ['auth'],
      summary: "Revoke this session's refresh tokens (or all sessions); access tokens expire on their own",
      security: SECURITY,
      middleware: [auth.middleware, requireUser()],
      request: { body: body(logoutSchema, false) },
      responses: { 204: { description: 'Signed out' }, ...errorResponses(400, 401, 403, 413, 429) },
    }),
    async (c) => {
      const principal = c.get('principal');
      const all = c.req.valid('json').all === true;
      if (all) await auth.tokens.revokeAllSessions(principal.userId);
      else if (principal.sessionId !== undefined) await auth.tokens.revokeSession(principal.userId, principal.sessionId);
      await auth.audit.record({
        action: 'auth.logout',
        actor: principal,
        targetType: 'user',
        targetId: principal.userId,
        ip: c.get('clientIp'),
        detail: { all, ...(principal.sessionId === undefined ? {} : { sessionId: principal.sessionId }) },
      });
      return c.body(null, 204);
    },
  );

  router.openapi(
    createRoute({
      method: 'get',
      path: '/me',
      tags: ['auth'],
      summary: 'Who the credentials belong to',
      security: SECURITY,
      middleware: [auth.middleware],
      responses: { 200: jsonContent(meSchema, 'The user and the credential used'), ...errorResponses(401, 404, 429) },
    }),
    async (c) => {
      const principal = c.get('principal');
      const user = await auth.accounts.getUser(principal.userId);
      if (user === null) throw new HttpError(404, 'not-found', 'this account no longer exists');
      return c.json(
        {
          user: userJson(user),
          principal: {
            kind: principal.kind,
            keyId: principal.keyId ?? null,
            sessionId: principal.sessionId ?? null,
            scopes: API_SCOPES.filter((s) => principal.scopes.has(s)),
          },
        },
        200,
      );
    },
  );
  return router;
}
