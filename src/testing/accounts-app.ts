/**
 * An in-process Loom HTTP app with the accounts module on a given database,
 * an injected clock and cheap Argon2 costs, for tests that drive the API the
 * way clients do (`app.request`). Every request comes from a fresh random
 * client IP unless the test names one, so per-IP limits only bite where a
 * test means them to.
 */
import { randomBytes } from 'node:crypto';
import { createAuth, type Auth } from '../auth/index.ts';
import type { Config, RateLimitConfig } from '../config.ts';
import { createApp } from '../http/app.ts';
import type { Router } from '../http/router.ts';
import { apiKeysRoutes } from '../http/routes/api-keys.ts';
import { auditRoutes, defaultOwnershipChecks, type OwnershipChecks } from '../http/routes/audit.ts';
import { authRoutes } from '../http/routes/auth.ts';
import type { Logger } from '../log.ts';
import type { LoomDatabase } from '../storage/index.ts';

/** A response as tests read it; `body` is the parsed JSON (null when there is none). */
export interface TestResponse<T> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

/** Loom's error body. */
export interface ErrorBody {
  readonly error: { readonly code: string; readonly message: string; readonly field?: string };
}

/** What {@link AccountsApp.register} returns. */
export interface TestUser {
  readonly userId: string;
  readonly email: string;
  readonly password: string;
  readonly accessToken: string;
  readonly refreshToken: string;
  readonly sessionId: string;
}

export interface RequestOptions {
  readonly body?: unknown;
  /** Sent as is with Content-Type application/json (for malformed JSON). */
  readonly rawBody?: string;
  /** Bearer credential: an access token or an API key. */
  readonly token?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Client IP (X-Forwarded-For; the app trusts one proxy). Default: a fresh random one. */
  readonly ip?: string;
}

export interface AccountsApp {
  readonly auth: Auth;
  readonly app: ReturnType<typeof createApp>;
  /** The injected clock: ms, advanced by tests. */
  readonly clock: { now(): number; advance(ms: number): void };
  request<T = ErrorBody>(method: string, path: string, opts?: RequestOptions): Promise<TestResponse<T>>;
  /** Registers a fresh user (random email) through the API. */
  register(opts?: { email?: string; password?: string }): Promise<TestUser>;
}

/** A random private-range IPv4 address. */
export function randomIp(): string {
  const b = randomBytes(3);
  return `10.${b[0]}.${b[1]}.${b[2]}`;
}

/** Builds the app. `owners` adds ownership checks (e.g. a `doc` check standing in for the documents module). */
export async function createAccountsApp(opts: {
  db: LoomDatabase;
  log: Logger;
  dataDir: string;
  owners?: OwnershipChecks;
  routes?: ReadonlyArray<{ path: string; router: (auth: Auth) => Router }>;
  rateLimits?: Partial<Record<'login' | 'api' | 'wsMessages', RateLimitConfig>>;
  maxBodyBytes?: number;
  accessTokenTtlS?: number;
  refreshTokenTtlS?: number;
}): Promise<AccountsApp> {
  let t = Date.now();
  const clock = { now: () => t, advance: (ms: number) => void (t += ms) };
  const config: Pick<Config, 'auth' | 'rateLimits' | 'dataDir'> = {
    dataDir: opts.dataDir,
    auth: {
      jwtKeys: [{ kid: 'test', secret: randomBytes(32).toString('base64url') }],
      jwtIssuer: 'loom',
      jwtAudience: 'loom-api',
      accessTokenTtlS: opts.accessTokenTtlS ?? 900,
      refreshTokenTtlS: opts.refreshTokenTtlS ?? 604_800,
      allowedOrigins: [],
    },
    rateLimits: {
      login: { capacity: 5, refillPerSec: 1 / 60 },
      api: { capacity: 10_000, refillPerSec: 1_000 },
      wsMessages: { capacity: 100, refillPerSec: 100 },
      ...opts.rateLimits,
    },
  };
  const auth = await createAuth({ db: opts.db, config, log: opts.log, now: clock.now, hasher: { memoryCostKiB: 1_024, timeCost: 1 } });
  const app = createApp({
    log: opts.log,
    routes: [
      { path: '/v1/auth', router: authRoutes(auth) },
      { path: '/v1/api-keys', router: apiKeysRoutes(auth) },
      { path: '/v1/audit', router: auditRoutes(auth, { ...defaultOwnershipChecks(auth), ...opts.owners }) },
      ...(opts.routes ?? []).map((r) => ({ path: r.path, router: r.router(auth) })),
    ],
    readinessChecks: [],
    trustProxy: true,
    apiRateLimit: auth.limiters.api,
    maxBodyBytes: opts.maxBodyBytes,
  });

  const request = async <T>(method: string, path: string, ro: RequestOptions = {}): Promise<TestResponse<T>> => {
    const headers: Record<string, string> = { 'x-forwarded-for': ro.ip ?? randomIp(), ...ro.headers };
    if (ro.token !== undefined) headers.authorization = `Bearer ${ro.token}`;
    let body: string | undefined;
    if (ro.rawBody !== undefined || ro.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = ro.rawBody ?? JSON.stringify(ro.body);
    }
    const res = await app.request(path, { method, headers, body });
    const text = await res.text();
    return { status: res.status, body: (text === '' ? null : JSON.parse(text)) as T, headers: res.headers };
  };

  const register = async (ro: { email?: string; password?: string } = {}): Promise<TestUser> => {
    const email = ro.email ?? `user-${randomBytes(6).toString('hex')}@example.com`;
    const password = ro.password ?? `pw-${randomBytes(8).toString('hex')}`;
    const res = await request<{ user: { id: string }; tokens: { accessToken: string; refreshToken: string; sessionId: string } }>('POST', '/v1/auth/register', {
      body: { email, password },
    });
    if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`);
    const { user, tokens } = res.body;
    return { userId: user.id, email, password, accessToken: tokens.accessToken, refreshToken: tokens.refreshToken, sessionId: tokens.sessionId };
  };

  return { auth, app, clock, request, register };
}
