/**
 * Revocation reaches open sockets on every gateway (real processes: one actor
 * host, two gateways, LOOM_DOC_ACCESS=members): revoking an API key, logging
 * out one session or all of them closes the /collab and /ws sockets those
 * credentials opened, on both gateways, with 4401; a notice for a credential
 * that was not revoked closes nothing (gateways re-check the store); a token
 * of a signed-out session opens no new socket; and a socket closes with 4401
 * when the access token that opened it expires.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { WebSocket } from 'ws';
import { CLOSE_CODES } from '../../protocol/errors.ts';
import { encodeCredentialRevoked } from '../../protocol/revocation.ts';
import { CREDENTIAL_REVOKED_SUBJECT } from '../../protocol/subjects.ts';
import { createAuth } from '../auth/index.ts';
import { loadConfig } from '../config.ts';
import { createRootLogger } from '../log.ts';
import { openDatabase, type Database } from '../storage/index.ts';
import { waitFor } from '../testing/index.ts';
import { startCluster, type ClusterFixture } from './cluster-fixture.ts';

const JWT_KEYS = `rv:${'r'.repeat(40)}`;
// The issue asks for 2 s; the bound here is generous for a loaded machine, the measured figure is printed.
const CLOSED_WITHIN_MS = 10_000;

let cluster: ClusterFixture;
let database: Database;
const opened: WebSocket[] = [];
const gw = (i: number) => cluster.gateways[i]!;

async function api(method: string, path: string, token: string | undefined, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${gw(0).httpUrl}${path}`, {
    method,
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
}

interface Session {
  userId: string;
  sessionId: string;
  accessToken: string;
}

async function register(): Promise<Session & { email: string }> {
  const email = `rv-${randomUUID()}@test.example`;
  const r = await api('POST', '/v1/auth/register', undefined, { email, password: 'correct horse battery' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const b = r.body as { user: { id: string }; tokens: { accessToken: string; sessionId: string } };
  return { email, userId: b.user.id, sessionId: b.tokens.sessionId, accessToken: b.tokens.accessToken };
}

async function login(email: string): Promise<Session> {
  const r = await api('POST', '/v1/auth/login', undefined, { email, password: 'correct horse battery' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const b = r.body as { user: { id: string }; tokens: { accessToken: string; sessionId: string } };
  return { userId: b.user.id, sessionId: b.tokens.sessionId, accessToken: b.tokens.accessToken };
}

async function newDoc(token: string): Promise<string> {
  const id = `revocation/${randomUUID()}`;
  assert.equal((await api('POST', '/v1/docs', token, { id, title: 'Revocation' })).status, 201);
  return id;
}

/** A socket with what happened to it: admitted (a pong came back), closed (code, reason, when). */
interface Probe {
  readonly ws: WebSocket;
  readonly admitted: Promise<'open' | number>;
  close?: { code: number; reason: string; at: number };
}

function probe(url: string): Probe {
  const ws = new WebSocket(url);
  opened.push(ws);
  const p: Probe = {
    ws,
    admitted: new Promise((resolve, reject) => {
      ws.once('error', reject);
      // A paused (not yet admitted) socket answers pings only once it is resumed, i.e. admitted.
      ws.once('open', () => ws.ping());
      ws.once('pong', () => resolve('open'));
      ws.once('close', (code) => resolve(code));
    }),
  };
  ws.on('close', (code, reason) => {
    p.close = { code, reason: reason.toString('utf8'), at: Date.now() };
  });
  return p;
}

const collabUrl = (g: number, doc: string, token: string) => `${gw(g).wsUrl}/collab/${encodeURIComponent(doc)}?token=${encodeURIComponent(token)}`;
const wsUrl = (g: number, token: string) => `${gw(g).wsUrl}/ws?token=${encodeURIComponent(token)}`;

async function admitted(...probes: Probe[]): Promise<void> {
  for (const p of probes) assert.equal(await p.admitted, 'open', 'socket admitted');
}

/** Waits until every probe closed with 4401; @returns the slowest close after `since`, ms. */
async function closedUnauthorized(probes: Probe[], since: number, what: string): Promise<number> {
  await waitFor(() => probes.every((p) => p.close !== undefined), { what, timeoutMs: CLOSED_WITHIN_MS });
  for (const p of probes) assert.equal(p.close?.code, CLOSE_CODES.unauthorized, `${what}: ${p.close?.reason}`);
  return Math.max(...probes.map((p) => p.close!.at - since));
}

before(async () => {
  cluster = await startCluster({ hosts: 1, gateways: 2, env: { LOOM_DOC_ACCESS: 'members', LOOM_JWT_KEYS: JWT_KEYS } });
  database = await openDatabase({ url: cluster.databaseUrl, logger: createRootLogger({ level: 'silent', instanceId: 'test' }) });
});

after(async () => {
  for (const ws of opened) ws.terminate();
  await database?.close();
  await cluster?.stop();
});

test('revoking an API key closes every socket it opened on both gateways with 4401; a notice for a live credential closes nothing', async (t) => {
  const user = await register();
  const doc = await newDoc(user.accessToken);
  const created = await api('POST', '/v1/api-keys', user.accessToken, { name: 'sockets', scopes: ['docs:read', 'docs:write', 'jobs:run'] });
  assert.equal(created.status, 201);
  const { key, apiKey } = created.body as { key: string; apiKey: { id: string } };

  const byKey = [probe(collabUrl(0, doc, key)), probe(collabUrl(1, doc, key)), probe(wsUrl(0, key)), probe(wsUrl(1, key))];
  const bySession = [probe(collabUrl(1, doc, user.accessToken)), probe(wsUrl(0, user.accessToken))];
  await admitted(...byKey, ...bySession);

  // A notice naming a session that was never revoked: each gateway re-checks and keeps the sockets.
  cluster.nc.publish(CREDENTIAL_REVOKED_SUBJECT, encodeCredentialRevoked({ kind: 'session', userId: user.userId, sessionId: user.sessionId }));
  const since = Date.now();
  assert.equal((await api('DELETE', `/v1/api-keys/${apiKey.id}`, user.accessToken)).status, 204);
  const slowest = await closedUnauthorized(byKey, since, 'sockets of the revoked key closed');
  t.diagnostic(`API key revocation to the last of 4 sockets closed (2 gateways): ${slowest} ms`);
  // Notices are handled in order, so the earlier one has been dealt with by now.
  assert.ok(bySession.every((p) => p.close === undefined), 'sockets of a live session stay open');
  assert.equal(await probe(collabUrl(1, doc, key)).admitted, CLOSE_CODES.unauthorized, 'the revoked key opens nothing');
});

test('logging out closes the sockets of that session everywhere, logging out everywhere closes the rest; a signed-out token opens nothing', async (t) => {
  const first = await register();
  const second = await login(first.email);
  const doc = await newDoc(first.accessToken);
  const ofFirst = [probe(collabUrl(0, doc, first.accessToken)), probe(wsUrl(1, first.accessToken))];
  const ofSecond = [probe(collabUrl(1, doc, second.accessToken)), probe(wsUrl(0, second.accessToken))];
  await admitted(...ofFirst, ...ofSecond);

  let since = Date.now();
  assert.equal((await api('POST', '/v1/auth/logout', first.accessToken)).status, 204);
  t.diagnostic(`logout to the last of 2 sockets closed: ${await closedUnauthorized(ofFirst, since, 'sockets of the signed-out session closed')} ms`);
  assert.ok(ofSecond.every((p) => p.close === undefined), "the other session's sockets stay open");
  assert.equal(await probe(wsUrl(0, first.accessToken)).admitted, CLOSE_CODES.unauthorized, 'a token of the ended session opens no /ws socket');
  assert.equal(await probe(collabUrl(1, doc, first.accessToken)).admitted, CLOSE_CODES.unauthorized, 'nor a /collab socket');

  since = Date.now();
  assert.equal((await api('POST', '/v1/auth/logout', second.accessToken, { all: true })).status, 204);
  t.diagnostic(`logout all to the last of 2 sockets closed: ${await closedUnauthorized(ofSecond, since, 'sockets of every session closed')} ms`);
});

test('a socket closes with 4401 when the access token that opened it expires', async () => {
  const user = await register();
  const doc = await newDoc(user.accessToken);
  // The same signing key, with a clock set so the token has about 3 s left (default lifetime 900 s).
  const early = await createAuth({
    db: database.db,
    config: loadConfig({ LOOM_JWT_KEYS: JWT_KEYS, LOOM_DATA_DIR: tmpdir() }),
    log: createRootLogger({ level: 'silent', instanceId: 'test' }),
    now: () => Date.now() - 897_000,
  });
  const { token } = await early.tokens.issueAccessToken(user.userId, user.sessionId);
  const sockets = [probe(collabUrl(0, doc, token)), probe(wsUrl(1, token))];
  await admitted(...sockets);
  await waitFor(() => sockets.every((p) => p.close !== undefined), { what: 'sockets closed at expiry', timeoutMs: 30_000 });
  for (const p of sockets) {
    assert.equal(p.close?.code, CLOSE_CODES.unauthorized);
    assert.match(p.close?.reason ?? '', /expired/);
  }
});
