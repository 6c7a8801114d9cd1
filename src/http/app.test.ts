/**
 * The app's own behaviour, in-process on PGlite: /openapi.json documents
 * every route the app serves (generated from the validating schemas),
 * oversized bodies get 413, the per-IP and per-user API limits answer 429
 * with Retry-After and recover on the injected clock, and unknown paths get
 * the JSON error body.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createRootLogger } from '../log.ts';
import { openDatabase, type Database } from '../storage/index.ts';
import { createAccountsApp, type AccountsApp, type ErrorBody } from '../testing/index.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'test' });
let database: Database;
let dataDir: string;
let api: AccountsApp;

before(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'loom-app-'));
  database = await openDatabase({ logger: log });
  await database.migrate();
  api = await createAccountsApp({ db: database.db, log, dataDir, maxBodyBytes: 2_048, rateLimits: { api: { capacity: 3, refillPerSec: 0.5 } } });
});
after(async () => {
  await database.close();
  await rm(dataDir, { recursive: true, force: true });
});

interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
}

describe('/openapi.json', () => {
  it('lists every route the app serves, with its methods', async () => {
    const res = await api.request<OpenApiDoc>('GET', '/openapi.json');
    assert.equal(res.status, 200);
    const documented = new Set(Object.entries(res.body.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)));
    const served = new Set(api.app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path.replace(/:([^/]+)/g, '{$1}')}`));
    assert.ok(served.size >= 12, [...served].join(', '));
    for (const route of served) assert.ok(documented.has(route), `${route} is served but not documented`);
    for (const route of [
      'POST /v1/auth/register',
      'POST /v1/auth/login',
      'POST /v1/auth/refresh',
      'POST /v1/auth/logout',
      'GET /v1/auth/me',
      'POST /v1/api-keys',
      'GET /v1/api-keys',
      'DELETE /v1/api-keys/{id}',
      'GET /v1/audit',
      'GET /healthz',
      'GET /readyz',
      'GET /openapi.json',
    ]) {
      assert.ok(documented.has(route), `${route} missing from ${[...documented].join(', ')}`);
    }
  });

  it('describes request bodies, errors and credentials from the same schemas', async () => {
    const doc = (await api.request<OpenApiDoc>('GET', '/openapi.json')).body;
    assert.ok(doc.components.schemas.Registration && doc.components.schemas.Error && doc.components.schemas.ApiKey);
    assert.deepEqual(Object.keys(doc.components.securitySchemes).sort(), ['apiKeyHeader', 'bearerAuth']);
    const createKey = doc.paths['/v1/api-keys']?.post;
    assert.ok(createKey?.security && createKey.responses['400'] && createKey.responses['401'] && createKey.responses['403']);
  });
});

describe('request limits', () => {
  it('answers 413 for a JSON body over the limit', async () => {
    const res = await api.request<ErrorBody>('POST', '/v1/auth/register', { body: { email: 'big@example.com', password: 'x'.repeat(4_000) } });
    assert.equal(res.status, 413);
    assert.equal(res.body.error.code, 'payload-too-large');
  });

  it('limits /v1 requests per IP with 429 and Retry-After, and recovers', async () => {
    const ip = '10.77.0.1';
    for (let i = 0; i < 3; i++) assert.equal((await api.request('GET', '/v1/auth/me', { ip })).status, 401);
    const limited = await api.request<ErrorBody>('GET', '/v1/auth/me', { ip });
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error.code, 'rate-limited');
    assert.equal(limited.headers.get('retry-after'), '2');
    assert.equal((await api.request('GET', '/healthz', { ip })).status, 200, 'probes are not limited');
    api.clock.advance(2_000);
    assert.equal((await api.request('GET', '/v1/auth/me', { ip })).status, 401);
  });

  it('limits each user across addresses', async () => {
    const user = await api.register();
    for (let i = 0; i < 3; i++) assert.equal((await api.request('GET', '/v1/auth/me', { token: user.accessToken })).status, 200);
    const limited = await api.request<ErrorBody>('GET', '/v1/auth/me', { token: user.accessToken });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    api.clock.advance(2_000);
    assert.equal((await api.request('GET', '/v1/auth/me', { token: user.accessToken })).status, 200);
  });
});

describe('unknown paths', () => {
  it('get the JSON error body with 404', async () => {
    const res = await api.request<ErrorBody>('GET', '/v1/nothing');
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'not-found');
  });
});
