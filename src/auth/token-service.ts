/**
 * Access and refresh tokens.
 *
 * Access tokens are JWTs signed with HS256. Why a shared secret and not
 * EdDSA: every process that verifies a token (the gateways) also issues
 * them, so a public/private split buys nothing, and one secret per key id is
 * easy to provision and rotate through LOOM_JWT_KEYS. The algorithm is pinned
 * (`algorithms: ['HS256']`, so `none` or an RS/ES confusion is refused), the
 * header names the key (`kid`; the first configured key signs, the others
 * still verify), and `typ` is `at+jwt` (RFC 9068) so no other JWT signed
 * with the same key passes as an access token. Issuer, audience and expiry
 * are checked. The signature alone does not end a session: createAuth's
 * authenticateToken also refuses tokens of a signed-out session
 * (isSessionRevoked), so logout ends them at once.
 *
 * Refresh tokens are opaque random strings (`loomr_` + 256 bits); only their
 * SHA-256 is stored. Each login starts a family (the session id, `sid` in
 * the access tokens). Refreshing marks the presented token rotated and
 * issues its successor in the same family, atomically; presenting an already
 * rotated token again means it leaked (or two clients raced with one token),
 * so the whole family is revoked and the event audited. Expired rows of a
 * family or user are pruned when it logs in or refreshes.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { and, eq, gt, isNull, lt } from 'drizzle-orm';
import { errors as joseErrors, jwtVerify, SignJWT, type JWTHeaderParameters } from 'jose';
import type { CredentialRevoked } from '../../protocol/revocation.ts';
import type { JwtKeyConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import { refreshTokens, type LoomDatabase } from '../storage/index.ts';
import type { AuditLog } from './audit-log.ts';
import { AuthError } from './auth-error.ts';
import { API_SCOPES, type Principal } from './principal.ts';
import { VerifiedTokens } from './verified-tokens.ts';

const ALGORITHM = 'HS256';
const ACCESS_TOKEN_TYPE = 'at+jwt';
/** Prefix of refresh tokens, so they are recognisable in leaks and never confused with API keys. */
export const REFRESH_TOKEN_PREFIX = 'loomr_';
/** Allowed clock difference between the gateway that issued a token and the one verifying it. */
const CLOCK_TOLERANCE_S = 5;
const MAX_TOKEN_CHARS = 4_096;
/** Session ids are uuids; anything else must not reach a uuid column. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What login, registration and refresh return to the client. */
export interface TokenPair {
  readonly userId: string;
  readonly sessionId: string;
  readonly accessToken: string;
  readonly accessTokenExpiresAt: Date;
  readonly refreshToken: string;
  readonly refreshTokenExpiresAt: Date;
}

/** Options of {@link TokenService}. */
export interface TokenServiceOptions {
  readonly db: LoomDatabase;
  /** Current key first; the rest only verify. */
  readonly keys: readonly JwtKeyConfig[];
  readonly issuer: string;
  readonly audience: string;
  readonly accessTokenTtlS: number;
  readonly refreshTokenTtlS: number;
  readonly audit: AuditLog;
  readonly log: Logger;
  /** Clock in ms; injectable for tests. Default `Date.now`. */
  readonly now?: () => number;
  /** Told after sessions were revoked, so open sockets of those sessions can be closed. */
  readonly onRevoked?: ((notice: CredentialRevoked) => void) | undefined;
}

/** Issues, verifies, rotates and revokes tokens. */
export class TokenService {
  readonly #opts: TokenServiceOptions;
  readonly #now: () => number;
  readonly #current: { kid: string; key: Uint8Array };
  readonly #keys: ReadonlyMap<string, Uint8Array>;
  /** Tokens already verified, until they expire (verified-tokens.ts says why that is safe). */
  readonly #verified = new VerifiedTokens();

  /** @throws RangeError without keys. */
  constructor(opts: TokenServiceOptions) {
    const first = opts.keys[0];
    if (first === undefined) throw new RangeError('TokenService needs at least one signing key');
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    const encoder = new TextEncoder();
    this.#keys = new Map(opts.keys.map((k) => [k.kid, encoder.encode(k.secret)]));
    this.#current = { kid: first.kid, key: encoder.encode(first.secret) };
  }

  /** Lifetime of the access tokens this service issues, seconds. */
  get accessTokenTtlS(): number {
    return this.#opts.accessTokenTtlS;
  }

  /** Signs an access token for a user's session. */
  async issueAccessToken(userId: string, sessionId: string): Promise<{ token: string; expiresAt: Date }> {
    const iat = Math.floor(this.#now() / 1000);
    const exp = iat + this.#opts.accessTokenTtlS;
    const token = await new SignJWT({ sid: sessionId })
      .setProtectedHeader({ alg: ALGORITHM, kid: this.#current.kid, typ: ACCESS_TOKEN_TYPE })
      .setSubject(userId)
      .setIssuer(this.#opts.issuer)
      .setAudience(this.#opts.audience)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(this.#current.key);
    return { token, expiresAt: new Date(exp * 1000) };
  }

  /**
   * Verifies an access token and returns its user principal (every scope).
   * @throws AuthError (unauthenticated) `token-expired`, or `invalid-token` for anything else wrong.
   */
  async verifyAccessToken(token: string): Promise<Principal> {
    if (token.length > MAX_TOKEN_CHARS) throw new AuthError('invalid-token', 'access token too long');
    const known = this.#verified.get(token, this.#now());
    if (known !== undefined) return known;
    try {
      const { payload } = await jwtVerify(token, (header: JWTHeaderParameters) => this.#keyFor(header), {
        algorithms: [ALGORITHM],
        issuer: this.#opts.issuer,
        audience: this.#opts.audience,
        typ: ACCESS_TOKEN_TYPE,
        requiredClaims: ['sub', 'exp', 'iat'],
        currentDate: new Date(this.#now()),
        clockTolerance: CLOCK_TOLERANCE_S,
      });
      const sid = payload.sid;
      if (typeof payload.sub !== 'string' || typeof sid !== 'string') throw new AuthError('invalid-token', 'access token lacks sub or sid');
      const expiresAt = typeof payload.exp === 'number' ? new Date(payload.exp * 1000) : undefined;
      const principal: Principal = { kind: 'user', userId: payload.sub, keyId: undefined, scopes: new Set(API_SCOPES), sessionId: sid, expiresAt };
      this.#verified.set(token, principal);
      return principal;
    } catch (err) {
      if (err instanceof AuthError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new AuthError('token-expired', 'access token expired', { cause: err });
      if (err instanceof joseErrors.JOSEError) throw new AuthError('invalid-token', 'access token is not valid', { cause: err });
      throw err;
    }
  }

  /** Starts a login session: a new refresh-token family and its first tokens. */
  async startSession(userId: string): Promise<TokenPair> {
    const now = new Date(this.#now());
    const sessionId = randomUUID();
    const refresh = this.#newRefreshToken(now);
    await this.#opts.db.delete(refreshTokens).where(and(eq(refreshTokens.userId, userId), lt(refreshTokens.expiresAt, now)));
    await this.#opts.db.insert(refreshTokens).values({ userId, familyId: sessionId, tokenHash: refresh.hash, createdAt: now, expiresAt: refresh.expiresAt });
    return this.#pair(userId, sessionId, refresh);
  }

  /**
   * Exchanges a refresh token for a new pair (rotation). Presenting a token
   * that was already exchanged revokes its whole family.
   * @param ctx.ip recorded in the audit entry when reuse is detected.
   * @throws AuthError (unauthenticated) `invalid-refresh-token` for unknown, expired, revoked or reused tokens.
   */
  async refresh(raw: string, ctx: { ip?: string | undefined } = {}): Promise<TokenPair> {
    if (!raw.startsWith(REFRESH_TOKEN_PREFIX) || raw.length > 200) throw new AuthError('invalid-refresh-token', 'not a refresh token');
    const now = new Date(this.#now());
    const hash = sha256(raw);
    const t = refreshTokens;
    const rotated = await this.#opts.db.transaction(async (tx) => {
      // The conditional update is the concurrency guard: of two requests with
      // one token, only one finds it unrotated.
      const [row] = await tx
        .update(t)
        .set({ rotatedAt: now })
        .where(and(eq(t.tokenHash, hash), isNull(t.rotatedAt), isNull(t.revokedAt), gt(t.expiresAt, now)))
        .returning({ userId: t.userId, familyId: t.familyId });
      if (row === undefined) return null;
      const next = this.#newRefreshToken(now);
      await tx.insert(t).values({ userId: row.userId, familyId: row.familyId, tokenHash: next.hash, createdAt: now, expiresAt: next.expiresAt });
      await tx.delete(t).where(and(eq(t.familyId, row.familyId), lt(t.expiresAt, now)));
      return { ...row, next };
    });
    if (rotated !== null) return this.#pair(rotated.userId, rotated.familyId, rotated.next);

    const [row] = await this.#opts.db.select().from(t).where(eq(t.tokenHash, hash)).limit(1);
    if (row === undefined) throw new AuthError('invalid-refresh-token', 'unknown refresh token');
    if (row.revokedAt !== null) throw new AuthError('invalid-refresh-token', 'refresh token revoked');
    if (row.rotatedAt !== null) {
      await this.#revokeFamily(row.familyId, now);
      this.#opts.onRevoked?.({ kind: 'session', userId: row.userId, sessionId: row.familyId });
      this.#opts.log.warn({ userId: row.userId, sessionId: row.familyId }, 'refresh token reused; session revoked');
      await this.#opts.audit.record({
        action: 'auth.refresh-reused',
        actor: { userId: row.userId },
        targetType: 'user',
        targetId: row.userId,
        ip: ctx.ip,
        detail: { sessionId: row.familyId },
      });
      throw new AuthError('invalid-refresh-token', 'refresh token already used; the session was revoked');
    }
    throw new AuthError('invalid-refresh-token', 'refresh token expired');
  }

  /** Revokes one session of a user. @returns false when the user has no such live session. */
  async revokeSession(userId: string, sessionId: string): Promise<boolean> {
    const t = refreshTokens;
    const rows = await this.#opts.db
      .update(t)
      .set({ revokedAt: new Date(this.#now()) })
      .where(and(eq(t.userId, userId), eq(t.familyId, sessionId), isNull(t.revokedAt)))
      .returning({ id: t.id });
    if (rows.length > 0) this.#opts.onRevoked?.({ kind: 'session', userId, sessionId });
    return rows.length > 0;
  }

  /** Revokes every session of a user. @returns how many refresh tokens were revoked. */
  async revokeAllSessions(userId: string): Promise<number> {
    const t = refreshTokens;
    const rows = await this.#opts.db
      .update(t)
      .set({ revokedAt: new Date(this.#now()) })
      .where(and(eq(t.userId, userId), isNull(t.revokedAt)))
      .returning({ id: t.id });
    this.#opts.onRevoked?.({ kind: 'all-sessions', userId });
    return rows.length;
  }

  /**
   * Whether a session was revoked (logout, reuse). A session whose rows were
   * pruned after expiry counts as revoked too: no access token outlives them.
   */
  async isSessionRevoked(sessionId: string): Promise<boolean> {
    const t = refreshTokens;
    if (!UUID.test(sessionId)) return true;
    const [live] = await this.#opts.db.select({ id: t.id }).from(t).where(and(eq(t.familyId, sessionId), isNull(t.revokedAt))).limit(1);
    return live === undefined;
  }

  async #revokeFamily(familyId: string, now: Date): Promise<void> {
    const t = refreshTokens;
    await this.#opts.db.update(t).set({ revokedAt: now }).where(and(eq(t.familyId, familyId), isNull(t.revokedAt)));
  }

  #keyFor(header: JWTHeaderParameters): Uint8Array {
    const key = header.kid === undefined ? undefined : this.#keys.get(header.kid);
    if (key === undefined) throw new AuthError('invalid-token', 'access token signed with an unknown key');
    return key;
  }

  #newRefreshToken(now: Date): { token: string; hash: string; expiresAt: Date } {
    const token = `${REFRESH_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    return { token, hash: sha256(token), expiresAt: new Date(now.getTime() + this.#opts.refreshTokenTtlS * 1000) };
  }

  async #pair(userId: string, sessionId: string, refresh: { token: string; expiresAt: Date }): Promise<TokenPair> {
    const access = await this.issueAccessToken(userId, sessionId);
    return {
      userId,
      sessionId,
      accessToken: access.token,
      accessTokenExpiresAt: access.expiresAt,
      refreshToken: refresh.token,
      refreshTokenExpiresAt: refresh.expiresAt,
    };
  }
}

/** Hex SHA-256, for high-entropy secrets (refresh tokens, API keys) where a slow hash adds nothing. */
export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
