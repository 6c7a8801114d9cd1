/**
 * The accounts API (/v1/auth, /v1/api-keys, /v1/audit) driven in-process
 * with `app.request`, on both drivers: in-memory PGlite and a real
 * PostgreSQL 15 from the harness, each migrated from empty. Every route:
 * success, 401, 403 where it applies, 404, 400 naming the field; token
 * expiry, refresh rotation and reuse, logout; API key scopes and immediate
 * revocation; audit rows for the listed actions, readable only by the owner.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRoute, z } from '@hono/zod-openapi';
import { and, eq } from 'drizzle-orm';
import { pgSchema, text } from 'drizzle-orm/pg-core';
import { requireScope } from '../../auth/index.ts';
import { API_SCOPES } from '../../auth/principal.ts';
import { createRootLogger } from '../../log.ts';
import { apiKeys, openDatabase, users, type Database } from '../../storage/index.ts';
import { createAccountsApp, startPostgresServer, type AccountsApp, type ErrorBody, type PostgresServerHandle, type TestUser } from '../../testing/index.ts';
import { createRouter, jsonContent } from '../router.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'test' });

let server: PostgresServerHandle | undefined;
let dataDir: string;
const opened: Database[] = [];
before(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'loom-accounts-'));
});
after(async () => {
  for (const d of opened) await d.close();
  await server?.dispose();
  await rm(dataDir, { recursive: true, force: true });
});

const drivers: Record<string, () => Promise<Database>> = {
  'PGlite (in-memory)': () => openDatabase({ logger: log }),
  'PostgreSQL 15': async () => {
    server ??= await startPostgresServer();
    return openDatabase({ url: await server.createDatabase(), logger: log });
  },
};

const columns = pgSchema('information_schema').table('columns', {
  tableSchema: text('table_schema').notNull(),
  tableName: text('table_name').notNull(),
  columnName: text('column_name').notNull(),
});

interface SessionBody {
  user: { id: string; email: string; createdAt: string };
  tokens: { tokenType: string; accessToken: string; refreshToken: string; sessionId: string; expiresIn: number; accessTokenExpiresAt: string };
}
type TokensBody = SessionBody['tokens'];
interface MeBody {
  user: { id: string; email: string };
  principal: { kind: string; keyId: string | null; sessionId: string | null; scopes: string[] };
}
interface KeyBody {
  id: string;
  name: string;
  prefix: string;
  scopes: string[];
  lastUsedAt: string | null;
  revokedAt: string | null;
}
interface AuditBody {
  entries: Array<{ id: number; action: string; actorUserId: string | null; targetId: string | null; ip: string | null; detail: Record<string, unknown> | null }>;
  nextBefore: number | null;
}

function expectError(res: { status: number; body: ErrorBody | unknown }, status: number, code: string, field?: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  const body = res.body as ErrorBody;
  assert.equal(body.error.code, code, JSON.stringify(body));
  assert.equal(typeof body.error.message, 'string');
  if (field !== undefined) assert.equal(body.error.field, field, JSON.stringify(body));
}

/** A route standing in for the documents module: needs the docs:write scope. */
const scopedRouter = (a: AccountsApp['auth']) => {
  const router = createRouter();
  router.openapi(
    createRoute({
      method: 'post',
      path: '/write',
      middleware: [a.middleware, requireScope('docs:write')],
      responses: { 200: jsonContent(z.object({ userId: z.string() }), 'ok') },
    }),
    (c) => c.json({ userId: c.get('principal').userId }, 200),
  );
  return router;
};

for (const [driver, open] of Object.entries(drivers)) {
  describe(`accounts API on ${driver}`, () => {
    let database: Database;
    let api: AccountsApp;
    before(async () => {
      database = await open();
      opened.push(database);
      await database.migrate();
      api = await createAccountsApp({
        db: database.db,
        log,
        dataDir,
        routes: [{ path: '/v1/scoped', router: scopedRouter }],
        // Stands in for the documents module: "doc-of-<userId>" belongs to that user; "doc-x" exists but is someone else's.
        owners: {
          doc: (p, id) => Promise.resolve(id === `doc-of-${p.userId}` ? 'owner' : id.startsWith('doc-') ? 'forbidden' : 'not-found'),
        },
      });
    });
    const me = (token: string) => api.request<MeBody>('GET', '/v1/auth/me', { token });
    const auditOf = (user: TestUser, targetType: string, targetId: string, query = '') =>
      api.request<AuditBody>('GET', `/v1/audit?targetType=${targetType}&targetId=${encodeURIComponent(targetId)}${query}`, { token: user.accessToken });

    it('applies the migrations from empty: the account tables exist', async () => {
      const rows = await database.db
        .select({ table: columns.tableName, column: columns.columnName })
        .from(columns)
        .where(and(eq(columns.tableSchema, 'public')));
      const tables = new Set(rows.map((r) => r.table));
      for (const t of ['users', 'refresh_tokens', 'api_keys', 'audit_log']) assert.ok(tables.has(t), `table ${t}`);
      assert.ok(rows.some((r) => r.table === 'api_keys' && r.column === 'last_used_at'));
    });

    describe('POST /v1/auth/register', () => {
      it('creates the account and signs it in', async () => {
        const res = await api.request<SessionBody>('POST', '/v1/auth/register', { body: { email: 'Grace@Example.com', password: 'correct horse' } });
        assert.equal(res.status, 201);
        assert.equal(res.body.user.email, 'Grace@Example.com');
        assert.equal(res.body.tokens.tokenType, 'Bearer');
        assert.equal(res.body.tokens.expiresIn, 900);
        assert.match(res.body.tokens.refreshToken, /^loomr_/);
        const who = await me(res.body.tokens.accessToken);
        assert.equal(who.status, 200);
        assert.equal(who.body.user.id, res.body.user.id);
      });

      it('answers 409 email-taken for an address in use, whatever its case', async () => {
        const user = await api.register();
        expectError(await api.request('POST', '/v1/auth/register', { body: { email: user.email.toUpperCase(), password: 'another password' } }), 409, 'email-taken', 'email');
      });

      it('answers 400 naming the field', async () => {
        expectError(await api.request('POST', '/v1/auth/register', { body: { email: 'a@example.com', password: 'short' } }), 400, 'invalid-request', 'password');
        expectError(await api.request('POST', '/v1/auth/register', { body: { email: 'not-an-email', password: 'long enough' } }), 400, 'invalid-request', 'email');
        expectError(await api.request('POST', '/v1/auth/register', { body: { password: 'long enough' } }), 400, 'invalid-request', 'email');
        expectError(await api.request('POST', '/v1/auth/register', { body: { email: 'b@example.com', password: 'long enough', admin: true } }), 400, 'invalid-request', 'admin');
        expectError(await api.request('POST', '/v1/auth/register', { rawBody: '{"email":' }), 400, 'bad-request');
      });
    });

    describe('POST /v1/auth/login', () => {
      it('signs in with the right password, in any email case, and audits it', async () => {
        const user = await api.register();
        const res = await api.request<SessionBody>('POST', '/v1/auth/login', { body: { email: user.email.toUpperCase(), password: user.password }, ip: '10.9.9.9' });
        assert.equal(res.status, 200);
        assert.equal(res.body.user.id, user.userId);
        assert.notEqual(res.body.tokens.sessionId, user.sessionId);
        const audit = await auditOf(user, 'user', user.userId);
        const login = audit.body.entries.find((e) => e.action === 'auth.login');
        assert.ok(login, JSON.stringify(audit.body));
        assert.equal(login.ip, '10.9.9.9');
      });

      it('answers 401 invalid-credentials for a wrong password or an unknown email, and audits the failure', async () => {
        const user = await api.register();
        expectError(await api.request('POST', '/v1/auth/login', { body: { email: user.email, password: 'wrong password' } }), 401, 'invalid-credentials');
        const unknown = await api.request('POST', '/v1/auth/login', { body: { email: 'nobody@example.com', password: 'whatever' } });
        expectError(unknown, 401, 'invalid-credentials');
        assert.equal(unknown.headers.get('www-authenticate'), 'Bearer');
        const audit = await auditOf(user, 'user', user.userId);
        assert.deepEqual(
          audit.body.entries.filter((e) => e.action === 'auth.login-failed').map((e) => e.detail),
          [{ reason: 'wrong-password' }],
        );
      });

      it('answers 400 naming the field', async () => {
        expectError(await api.request('POST', '/v1/auth/login', { body: { email: 'x@example.com' } }), 400, 'invalid-request', 'password');
        expectError(await api.request('POST', '/v1/auth/login', { body: { email: 42, password: 'x' } }), 400, 'invalid-request', 'email');
      });

      it('limits attempts per account with 429 and Retry-After, and recovers', async () => {
        const user = await api.register();
        for (let i = 0; i < 5; i++) expectError(await api.request('POST', '/v1/auth/login', { body: { email: user.email, password: 'guess' } }), 401, 'invalid-credentials');
        const limited = await api.request('POST', '/v1/auth/login', { body: { email: user.email, password: user.password } });
        expectError(limited, 429, 'rate-limited');
        const retryAfterS = Number(limited.headers.get('retry-after'));
        assert.ok(retryAfterS >= 1 && retryAfterS <= 60, `Retry-After ${retryAfterS}`);
        api.clock.advance(retryAfterS * 1000);
        assert.equal((await api.request('POST', '/v1/auth/login', { body: { email: user.email, password: user.password } })).status, 200);
      });

      it('limits attempts per IP across accounts', async () => {
        const ip = '10.200.0.1';
        for (let i = 0; i < 5; i++) await api.request('POST', '/v1/auth/login', { body: { email: `spray${i}@example.com`, password: 'x' }, ip });
        expectError(await api.request('POST', '/v1/auth/login', { body: { email: 'spray9@example.com', password: 'x' }, ip }), 429, 'rate-limited');
        assert.equal((await api.request('POST', '/v1/auth/login', { body: { email: 'spray9@example.com', password: 'x' } })).status, 401);
      });
    });

    describe('POST /v1/auth/refresh', () => {
      it('rotates: returns new tokens, and the new access token works', async () => {
        const user = await api.register();
        const res = await api.request<TokensBody>('POST', '/v1/auth/refresh', { body: { refreshToken: user.refreshToken } });
        assert.equal(res.status, 200);
        assert.notEqual(res.body.refreshToken, user.refreshToken);
        assert.equal(res.body.sessionId, user.sessionId);
        assert.equal((await me(res.body.accessToken)).status, 200);
      });

      it('revokes the whole session when a rotated token is reused, and audits it', async () => {
        const user = await api.register();
        const next = await api.request<TokensBody>('POST', '/v1/auth/refresh', { body: { refreshToken: user.refreshToken } });
        expectError(await api.request('POST', '/v1/auth/refresh', { body: { refreshToken: user.refreshToken } }), 401, 'invalid-refresh-token');
        expectError(await api.request('POST', '/v1/auth/refresh', { body: { refreshToken: next.body.refreshToken } }), 401, 'invalid-refresh-token');
        // The revoked session's access tokens are over too: the owner reads the audit from a new sign-in.
        expectError(await me(next.body.accessToken), 401, 'invalid-token');
        const again = await api.request<SessionBody>('POST', '/v1/auth/login', { body: { email: user.email, password: user.password } });
        const audit = await auditOf({ ...user, accessToken: again.body.tokens.accessToken }, 'user', user.userId);
        assert.ok(audit.body.entries.some((e) => e.action === 'auth.refresh-reused' && e.detail?.sessionId === user.sessionId));
      });

      it('answers 401 for an unknown or expired token and 400 without one', async () => {
        expectError(await api.request('POST', '/v1/auth/refresh', { body: { refreshToken: 'loomr_nope' } }), 401, 'invalid-refresh-token');
        expectError(await api.request('POST', '/v1/auth/refresh', { body: {} }), 400, 'invalid-request', 'refreshToken');
        const user = await api.register();
        api.clock.advance(604_800_000 + 1_000);
        expectError(await api.request('POST', '/v1/auth/refresh', { body: { refreshToken: user.refreshToken } }), 401, 'invalid-refresh-token');
      });
    });

    describe('access tokens', () => {
      it('expire after 15 minutes; a refresh gets a working one', async () => {
        const user = await api.register();
        api.clock.advance(15 * 60_000 + 10_000);
        expectError(await me(user.accessToken), 401, 'token-expired');
        const next = await api.request<TokensBody>('POST', '/v1/auth/refresh', { body: { refreshToken: user.refreshToken } });
        assert.equal((await me(next.body.accessToken)).status, 200);
      });
    });

    describe('POST /v1/auth/logout', () => {
      it("revokes the session's refresh tokens, leaving other sessions", async () => {
        const user = await api.register();
        const other = await api.request<SessionBody>('POST', '/v1/auth/login', { body: { email: user.email, password: user.password } });
        const res = await api.request('POST', '/v1/auth/logout', { token: user.accessToken });
        assert.equal(res.status, 204);
        expectError(await api.request('POST', '/v1/auth/refresh', { body: { refreshToken: user.refreshToken } }), 401, 'invalid-refresh-token');
        // The signed-out session's access token stops working at once; the other session's keeps working.
        expectError(await api.request('GET', '/v1/auth/me', { token: user.accessToken }), 401, 'invalid-token');
        assert.equal((await api.request('GET', '/v1/auth/me', { token: other.body.tokens.accessToken })).status, 200);
        assert.equal((await api.request('POST', '/v1/auth/refresh', { body: { refreshToken: other.body.tokens.refreshToken } })).status, 200);
      });

      it('with all: true revokes every session', async () => {
        const user = await api.register();
        const other = await api.request<SessionBody>('POST', '/v1/auth/login', { body: { email: user.email, password: user.password } });
        assert.equal((await api.request('POST', '/v1/auth/logout', { token: user.accessToken, body: { all: true } })).status, 204);
        expectError(await api.request('POST', '/v1/auth/refresh', { body: { refreshToken: other.body.tokens.refreshToken } }), 401, 'invalid-refresh-token');
      });

      it('answers 401 without credentials, 403 for an API key, 400 naming the field', async () => {
        const user = await api.register();
        expectError(await api.request('POST', '/v1/auth/logout'), 401, 'unauthenticated');
        const key = await api.request<{ key: string }>('POST', '/v1/api-keys', { token: user.accessToken, body: { name: 'k', scopes: ['docs:read'] } });
        expectError(await api.request('POST', '/v1/auth/logout', { token: key.body.key }), 403, 'user-required');
        expectError(await api.request('POST', '/v1/auth/logout', { token: user.accessToken, body: { all: 'yes' } }), 400, 'invalid-request', 'all');
      });
    });

    describe('GET /v1/auth/me', () => {
      it('describes a user token and an API key', async () => {
        const user = await api.register();
        const who = await me(user.accessToken);
        assert.deepEqual(who.body.principal, { kind: 'user', keyId: null, sessionId: user.sessionId, scopes: [...API_SCOPES] });
        const key = await api.request<{ key: string; apiKey: KeyBody }>('POST', '/v1/api-keys', { token: user.accessToken, body: { name: 'k', scopes: ['jobs:run', 'docs:read'] } });
        const viaKey = await api.request<MeBody>('GET', '/v1/auth/me', { headers: { 'x-api-key': key.body.key } });
        assert.equal(viaKey.status, 200);
        assert.deepEqual(viaKey.body.principal, { kind: 'api-key', keyId: key.body.apiKey.id, sessionId: null, scopes: ['docs:read', 'jobs:run'] });
      });

      it('answers 401 for missing, malformed, forged or non-bearer credentials', async () => {
        expectError(await api.request('GET', '/v1/auth/me'), 401, 'unauthenticated');
        expectError(await me('garbage'), 401, 'invalid-token');
        expectError(await me('loom_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), 401, 'invalid-api-key');
        expectError(await api.request('GET', '/v1/auth/me', { headers: { authorization: 'Basic dTpw' } }), 401, 'unauthenticated');
      });

      it('answers 401 once the account is gone: its sessions went with it', async () => {
        const user = await api.register();
        await database.db.delete(users).where(eq(users.id, user.userId));
        expectError(await me(user.accessToken), 401, 'invalid-token');
      });
    });

    describe('/v1/api-keys', () => {
      it('creates a key shown once, lists it without the secret, and records its use', async () => {
        const user = await api.register();
        const created = await api.request<{ key: string; apiKey: KeyBody }>('POST', '/v1/api-keys', { token: user.accessToken, body: { name: ' exporter ', scopes: ['docs:read'] } });
        assert.equal(created.status, 201);
        assert.match(created.body.key, /^loom_[A-Za-z0-9_-]{43}$/);
        assert.equal(created.body.apiKey.name, 'exporter');
        assert.ok(created.body.key.startsWith(created.body.apiKey.prefix));
        assert.equal(created.body.apiKey.lastUsedAt, null);
        assert.equal((await me(created.body.key)).status, 200);
        const list = await api.request<{ apiKeys: KeyBody[] }>('GET', '/v1/api-keys', { token: user.accessToken });
        assert.equal(list.status, 200);
        assert.equal(list.body.apiKeys.length, 1);
        assert.ok(list.body.apiKeys[0]!.lastUsedAt !== null);
        assert.ok(!JSON.stringify(list.body).includes(created.body.key));
        const [row] = await database.db.select({ keyHash: apiKeys.keyHash }).from(apiKeys).where(eq(apiKeys.id, created.body.apiKey.id));
        assert.ok(row !== undefined && !row.keyHash.includes(created.body.key.slice(5)), 'only a hash is stored');
      });

      it('enforces scopes: a key without docs:write gets 403, with it 200; a user token has every scope', async () => {
        const user = await api.register();
        const reader = await api.request<{ key: string }>('POST', '/v1/api-keys', { token: user.accessToken, body: { name: 'r', scopes: ['docs:read'] } });
        const writer = await api.request<{ key: string }>('POST', '/v1/api-keys', { token: user.accessToken, body: { name: 'w', scopes: ['docs:write'] } });
        expectError(await api.request('POST', '/v1/scoped/write', { token: reader.body.key }), 403, 'insufficient-scope');
        assert.equal((await api.request('POST', '/v1/scoped/write', { token: writer.body.key })).status, 200);
        assert.equal((await api.request('POST', '/v1/scoped/write', { token: user.accessToken })).status, 200);
      });

      it('revokes a key: it stops working at once; revoking again or another user\'s key is 404', async () => {
        const user = await api.register();
        const stranger = await api.register();
        const created = await api.request<{ key: string; apiKey: KeyBody }>('POST', '/v1/api-keys', { token: user.accessToken, body: { name: 'k', scopes: ['docs:read'] } });
        expectError(await api.request('DELETE', `/v1/api-keys/${created.body.apiKey.id}`, { token: stranger.accessToken }), 404, 'not-found');
        assert.equal((await me(created.body.key)).status, 200);
        assert.equal((await api.request('DELETE', `/v1/api-keys/${created.body.apiKey.id}`, { token: user.accessToken })).status, 204);
        expectError(await me(created.body.key), 401, 'invalid-api-key');
        expectError(await api.request('DELETE', `/v1/api-keys/${created.body.apiKey.id}`, { token: user.accessToken }), 404, 'not-found');
        const list = await api.request<{ apiKeys: KeyBody[] }>('GET', '/v1/api-keys', { token: user.accessToken });
        assert.ok(list.body.apiKeys[0]?.revokedAt !== null);
      });

      it('answers 401 without credentials, 403 for API keys, 400 naming the field', async () => {
        const user = await api.register();
        const key = await api.request<{ key: string; apiKey: KeyBody }>('POST', '/v1/api-keys', { token: user.accessToken, body: { name: 'k', scopes: ['docs:read'] } });
        expectError(await api.request('POST', '/v1/api-keys', { body: { name: 'k', scopes: ['docs:read'] } }), 401, 'unauthenticated');
        expectError(await api.request('GET', '/v1/api-keys'), 401, 'unauthenticated');
        expectError(await api.request('DELETE', `/v1/api-keys/${key.body.apiKey.id}`), 401, 'unauthenticated');
        expectError(await api.request('POST', '/v1/api-keys', { token: key.body.key, body: { name: 'k2', scopes: ['docs:read'] } }), 403, 'user-required');
        expectError(await api.request('GET', '/v1/api-keys', { token: key.body.key }), 403, 'user-required');
        expectError(await api.request('DELETE', `/v1/api-keys/${key.body.apiKey.id}`, { token: key.body.key }), 403, 'user-required');
        expectError(await api.request('POST', '/v1/api-keys', { token: user.accessToken, body: { name: 'k', scopes: ['root'] } }), 400, 'invalid-request', 'scopes.0');
        expectError(await api.request('POST', '/v1/api-keys', { token: user.accessToken, body: { name: '', scopes: ['docs:read'] } }), 400, 'invalid-request', 'name');
        expectError(await api.request('DELETE', '/v1/api-keys/not-a-uuid', { token: user.accessToken }), 400, 'invalid-request', 'id');
      });
    });

    describe('GET /v1/audit', () => {
      it('shows key creation and revocation to the key owner, newest first, page by page', async () => {
        const user = await api.register();
        const created = await api.request<{ key: string; apiKey: KeyBody }>('POST', '/v1/api-keys', { token: user.accessToken, body: { name: 'k', scopes: ['docs:read'] } });
        await api.request('DELETE', `/v1/api-keys/${created.body.apiKey.id}`, { token: user.accessToken });
        const page1 = await auditOf(user, 'api-key', created.body.apiKey.id, '&limit=1');
        assert.equal(page1.status, 200);
        assert.deepEqual(page1.body.entries.map((e) => e.action), ['api-key.revoke']);
        assert.equal(page1.body.entries[0]!.actorUserId, user.userId);
        assert.ok(page1.body.nextBefore !== null);
        const page2 = await auditOf(user, 'api-key', created.body.apiKey.id, `&limit=1&before=${page1.body.nextBefore}`);
        assert.deepEqual(page2.body.entries.map((e) => e.action), ['api-key.create']);
        assert.ok(!JSON.stringify(page2.body).includes(created.body.key), 'the secret is not in the audit');
      });

      it('keeps entries from everyone but the owner: 403 for another user, 404 for another\'s key', async () => {
        const user = await api.register();
        const stranger = await api.register();
        const created = await api.request<{ apiKey: KeyBody }>('POST', '/v1/api-keys', { token: user.accessToken, body: { name: 'k', scopes: ['docs:read'] } });
        expectError(await auditOf(stranger, 'user', user.userId), 403, 'forbidden');
        expectError(await auditOf(stranger, 'api-key', created.body.apiKey.id), 404, 'not-found');
        expectError(await auditOf(stranger, 'api-key', 'not-a-uuid'), 404, 'not-found');
      });

      it('serves entries other modules record through AuditLog, behind their ownership check', async () => {
        const owner = await api.register();
        const member = await api.register();
        const docId = `doc-of-${owner.userId}`;
        await api.auth.audit.record({ action: 'doc.share', actor: { userId: owner.userId, keyId: undefined }, targetType: 'doc', targetId: docId, detail: { member: member.userId, role: 'editor' } });
        const res = await auditOf(owner, 'doc', docId);
        assert.equal(res.status, 200);
        assert.deepEqual(res.body.entries.map((e) => [e.action, e.detail]), [['doc.share', { member: member.userId, role: 'editor' }]]);
        expectError(await auditOf(member, 'doc', docId), 403, 'forbidden');
        expectError(await auditOf(owner, 'doc', 'nothing-here'), 404, 'not-found');
      });

      it('answers 401 without credentials, 403 for API keys, 400 naming the field', async () => {
        const user = await api.register();
        const key = await api.request<{ key: string }>('POST', '/v1/api-keys', { token: user.accessToken, body: { name: 'k', scopes: ['docs:read'] } });
        expectError(await api.request('GET', `/v1/audit?targetType=user&targetId=${user.userId}`), 401, 'unauthenticated');
        expectError(await api.request('GET', `/v1/audit?targetType=user&targetId=${user.userId}`, { token: key.body.key }), 403, 'user-required');
        expectError(await auditOf(user, 'planet', 'x'), 400, 'invalid-request', 'targetType');
        expectError(await auditOf(user, 'job', 'x'), 400, 'invalid-request', 'targetType');
        expectError(await api.request('GET', '/v1/audit?targetType=user', { token: user.accessToken }), 400, 'invalid-request', 'targetId');
        expectError(await auditOf(user, 'user', user.userId, '&limit=0'), 400, 'invalid-request', 'limit');
      });
    });
  });
}
