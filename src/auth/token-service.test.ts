/**
 * TokenService on an injected clock against in-memory PGlite (the refresh
 * paths also run on PostgreSQL 15 in the HTTP suite): access tokens verify
 * until they expire, across a key rotation, and fail for a pinned-algorithm,
 * issuer, audience, type or unknown-key mismatch; refresh tokens rotate,
 * expire, and a reused one revokes its family.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SignJWT, UnsecuredJWT } from 'jose';
import { createRootLogger } from '../log.ts';
import { openDatabase, users, type Database } from '../storage/index.ts';
import { AuditLog } from './audit-log.ts';
import { AuthError } from './auth-error.ts';
import { TokenService, type TokenServiceOptions } from './token-service.ts';
import { API_SCOPES } from './principal.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'test' });
const KEY_A = { kid: 'a', secret: 'a'.repeat(32) };
const KEY_B = { kid: 'b', secret: 'b'.repeat(32) };

let database: Database;
let userId: string;
let t = Date.parse('2031-03-01T12:00:00Z');
const now = () => t;

function service(overrides: Partial<TokenServiceOptions> = {}): TokenService {
  return new TokenService({
    db: database.db,
    keys: [KEY_A],
    issuer: 'loom',
    audience: 'loom-api',
    accessTokenTtlS: 900,
    refreshTokenTtlS: 3_600,
    audit: new AuditLog({ db: database.db, log, now }),
    log,
    now,
    ...overrides,
  });
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof AuthError, String(err));
    assert.equal(err.kind, 'unauthenticated');
    assert.equal(err.code, code);
    return true;
  });
}

before(async () => {
  database = await openDatabase({ logger: log });
  await database.migrate();
  const [row] = await database.db.insert(users).values({ email: 'tokens@example.com', passwordHash: 'x' }).returning({ id: users.id });
  userId = row!.id;
});
after(() => database.close());

describe('TokenService access tokens', () => {
  it('verify into a user principal with every scope and the session id', async () => {
    const tokens = service();
    const { token, expiresAt } = await tokens.issueAccessToken(userId, 'c0ffee00-0000-4000-8000-000000000000');
    assert.equal(expiresAt.getTime(), Math.floor(t / 1000) * 1000 + 900_000);
    const principal = await tokens.verifyAccessToken(token);
    assert.equal(principal.kind, 'user');
    assert.equal(principal.userId, userId);
    assert.equal(principal.sessionId, 'c0ffee00-0000-4000-8000-000000000000');
    // A user's own token holds every scope there is.
    assert.deepEqual([...principal.scopes].sort(), [...API_SCOPES].sort());
  });

  it('expire after their TTL (clock tolerance is a few seconds)', async () => {
    const tokens = service({ accessTokenTtlS: 60 });
    const { token } = await tokens.issueAccessToken(userId, 's');
    const start = t;
    try {
      t += 60_000;
      await tokens.verifyAccessToken(token); // within tolerance
      t += 10_000;
      await rejectsWith(tokens.verifyAccessToken(token), 'token-expired');
    } finally {
      t = start;
    }
  });

  it('verified once, keep being accepted only until they expire (the remembered answer does not outlive the token)', async () => {
    const tokens = service({ accessTokenTtlS: 60 });
    const { token } = await tokens.issueAccessToken(userId, 's');
    const start = t;
    try {
      assert.equal((await tokens.verifyAccessToken(token)).userId, userId);
      t += 59_000;
      assert.equal((await tokens.verifyAccessToken(token)).userId, userId);
      t += 16_000;
      await rejectsWith(tokens.verifyAccessToken(token), 'token-expired');
      // A tampered copy of a remembered token is still checked, and refused.
      t = start;
      await rejectsWith(tokens.verifyAccessToken(`${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`), 'invalid-token');
    } finally {
      t = start;
    }
  });

  it('keep verifying with a previous key after rotation, and stop once it is dropped', async () => {
    const old = await service({ keys: [KEY_A] }).issueAccessToken(userId, 's');
    const rotated = service({ keys: [KEY_B, KEY_A] });
    assert.equal((await rotated.verifyAccessToken(old.token)).userId, userId);
    const fresh = await rotated.issueAccessToken(userId, 's');
    assert.match(fresh.token, /^eyJ/);
    assert.equal(JSON.parse(Buffer.from(fresh.token.split('.')[0]!, 'base64url').toString()).kid, 'b');
    await rejectsWith(service({ keys: [KEY_B] }).verifyAccessToken(old.token), 'invalid-token');
  });

  it('refuse another algorithm, issuer, audience or type, an unsigned token and a tampered one', async () => {
    const tokens = service();
    const key = new TextEncoder().encode(KEY_A.secret);
    const base = () => new SignJWT({ sid: 's' }).setSubject(userId).setIssuedAt(Math.floor(t / 1000)).setExpirationTime(Math.floor(t / 1000) + 60);
    const variants = [
      await base().setProtectedHeader({ alg: 'HS512', kid: 'a', typ: 'at+jwt' }).setIssuer('loom').setAudience('loom-api').sign(key),
      await base().setProtectedHeader({ alg: 'HS256', kid: 'a', typ: 'at+jwt' }).setIssuer('evil').setAudience('loom-api').sign(key),
      await base().setProtectedHeader({ alg: 'HS256', kid: 'a', typ: 'at+jwt' }).setIssuer('loom').setAudience('other').sign(key),
      await base().setProtectedHeader({ alg: 'HS256', kid: 'a', typ: 'JWT' }).setIssuer('loom').setAudience('loom-api').sign(key),
      await base().setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' }).setIssuer('loom').setAudience('loom-api').sign(key),
      new UnsecuredJWT({ sid: 's' }).setSubject(userId).setIssuer('loom').setAudience('loom-api').setIssuedAt().setExpirationTime('1h').encode(),
      'not.a.jwt',
    ];
    const good = (await tokens.issueAccessToken(userId, 's')).token;
    const [h, p, s] = good.split('.');
    variants.push(`${h}.${p}.${s!.slice(0, -2)}${s!.endsWith('AA') ? 'BB' : 'AA'}`);
    for (const [i, token] of variants.entries()) {
      await assert.rejects(tokens.verifyAccessToken(token), (err: unknown) => err instanceof AuthError && err.code === 'invalid-token', `variant ${i}`);
    }
  });
});

describe('TokenService refresh tokens', () => {
  it('rotate: each refresh returns a new pair in the same session', async () => {
    const tokens = service();
    const first = await tokens.startSession(userId);
    const second = await tokens.refresh(first.refreshToken);
    assert.equal(second.sessionId, first.sessionId);
    assert.notEqual(second.refreshToken, first.refreshToken);
    assert.equal((await tokens.verifyAccessToken(second.accessToken)).sessionId, first.sessionId);
    const third = await tokens.refresh(second.refreshToken);
    assert.equal(third.userId, userId);
  });

  it('revoke the whole family when a rotated token is presented again', async () => {
    const tokens = service();
    const first = await tokens.startSession(userId);
    const second = await tokens.refresh(first.refreshToken);
    await rejectsWith(tokens.refresh(first.refreshToken), 'invalid-refresh-token');
    await rejectsWith(tokens.refresh(second.refreshToken), 'invalid-refresh-token');
  });

  it('let exactly one of two concurrent refreshes with one token win', async () => {
    const tokens = service();
    const first = await tokens.startSession(userId);
    const results = await Promise.allSettled([tokens.refresh(first.refreshToken), tokens.refresh(first.refreshToken)]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
  });

  it('expire after their TTL', async () => {
    const tokens = service({ refreshTokenTtlS: 120 });
    const first = await tokens.startSession(userId);
    const start = t;
    try {
      t += 121_000;
      await rejectsWith(tokens.refresh(first.refreshToken), 'invalid-refresh-token');
    } finally {
      t = start;
    }
  });

  it('stop working when their session is revoked, leaving other sessions alone', async () => {
    const tokens = service();
    const a = await tokens.startSession(userId);
    const b = await tokens.startSession(userId);
    assert.equal(await tokens.revokeSession(userId, a.sessionId), true);
    await rejectsWith(tokens.refresh(a.refreshToken), 'invalid-refresh-token');
    const b2 = await tokens.refresh(b.refreshToken);
    assert.ok(await tokens.revokeAllSessions(userId) >= 1);
    await rejectsWith(tokens.refresh(b2.refreshToken), 'invalid-refresh-token');
  });

  it('refuse strings that are not refresh tokens', async () => {
    await rejectsWith(service().refresh('loom_abc'), 'invalid-refresh-token');
    await rejectsWith(service().refresh('loomr_unknown'), 'invalid-refresh-token');
  });
});
