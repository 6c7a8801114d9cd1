/**
 * Document permissions end to end, through real processes (one actor host,
 * two gateways with LOOM_DOC_ACCESS=members) and the real y-websocket
 * client: upgrades without a token, with an expired one, from a disallowed
 * Origin or by a stranger are refused with 4401/4403; a viewer stays
 * connected read-only and its edits reach nobody; an editor removed on one
 * gateway is disconnected from the other within seconds; restoring a
 * snapshot converges connected clients; a flood of messages is closed with
 * 4429; deleting a document closes its sockets.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { WebSocket } from 'ws';
import * as Y from 'yjs';
import { CLOSE_CODES, ProtocolError } from '../../protocol/errors.ts';
import { parseActorId } from '../../protocol/ids.ts';
import { createAuth } from '../auth/index.ts';
import { loadConfig } from '../config.ts';
import { createRootLogger } from '../log.ts';
import { ActorClient } from '../placement/actor-client.ts';
import { openDatabase, type Database } from '../storage/index.ts';
import { connectCollabClient, waitFor, type CollabClient } from '../testing/index.ts';
import { startCluster, type ClusterFixture } from './cluster-fixture.ts';

const JWT_KEYS = `it:${'s'.repeat(40)}`;
const ALLOWED_ORIGIN = 'https://app.example';

let cluster: ClusterFixture;
let database: Database;
const clients: CollabClient[] = [];
const users: Record<string, { id: string; token: string }> = {};

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

function client(gateway: number, room: string, token: string | undefined): CollabClient {
  const c = connectCollabClient(gw(gateway).wsUrl, encodeURIComponent(room), { params: token === undefined ? {} : { token } });
  clients.push(c);
  return c;
}

/** Opens a raw socket and resolves with the close code the gateway sends. */
function closeCodeOf(url: string, opts: { headers?: Record<string, string>; protocols?: string[] } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers ?? {} });
    ws.once('close', (code) => resolve(code));
    ws.once('error', reject);
  });
}

/** A document owned by `owner`, with `extra` members. */
async function newDoc(extra: Record<string, 'editor' | 'viewer'>): Promise<string> {
  const id = `access/${randomUUID()}.md`;
  assert.equal((await api('POST', '/v1/docs', users.owner!.token, { id, title: 'Access' })).status, 201);
  for (const [name, role] of Object.entries(extra)) {
    assert.equal((await api('PUT', `/v1/docs/${encodeURIComponent(id)}/members/${users[name]!.id}`, users.owner!.token, { role })).status, 201);
  }
  return id;
}

async function contentText(id: string): Promise<string> {
  const res = await fetch(`${gw(0).httpUrl}/v1/docs/${encodeURIComponent(id)}?format=text`, { headers: { authorization: `Bearer ${users.owner!.token}` } });
  assert.equal(res.status, 200);
  return res.text();
}

before(async () => {
  cluster = await startCluster({
    hosts: 1,
    gateways: 2,
    env: {
      LOOM_DOC_ACCESS: 'members',
      LOOM_JWT_KEYS: JWT_KEYS,
      LOOM_ALLOWED_ORIGINS: ALLOWED_ORIGIN,
      // Every append is followed by a snapshot, so versions exist to restore.
      LOOM_DOC_SNAPSHOT_EVERY_UPDATES: '1',
      LOOM_RATE_WS_BURST: '200',
      LOOM_RATE_WS_PER_S: '50',
    },
  });
  for (const name of ['owner', 'editor', 'viewer', 'stranger']) {
    const r = await api('POST', '/v1/auth/register', undefined, { email: `${name}-${randomUUID()}@test.example`, password: 'correct horse battery' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const body = r.body as { user: { id: string }; tokens: { accessToken: string } };
    users[name] = { id: body.user.id, token: body.tokens.accessToken };
  }
  database = await openDatabase({ url: cluster.databaseUrl, logger: createRootLogger({ level: 'silent', instanceId: 'test' }) });
});

after(async () => {
  for (const c of clients) c.destroy();
  await database?.close();
  await cluster.stop();
});

test('upgrades without a token, with an expired token, from a disallowed Origin or by a stranger are refused', async () => {
  const id = await newDoc({ editor: 'editor' });
  const url = `${gw(1).wsUrl}/collab/${encodeURIComponent(id)}`;
  // The same signing key, a clock an hour behind: a genuine token that expired.
  const past = await createAuth({
    db: database.db,
    config: loadConfig({ LOOM_JWT_KEYS: JWT_KEYS, LOOM_DATA_DIR: tmpdir() }),
    log: createRootLogger({ level: 'silent', instanceId: 'test' }),
    now: () => Date.now() - 3_600_000,
  });
  const expired = (await past.tokens.issueAccessToken(users.editor!.id, randomUUID())).token;

  assert.equal(await closeCodeOf(url), CLOSE_CODES.unauthorized, 'no token');
  assert.equal(await closeCodeOf(`${url}?token=${expired}`), CLOSE_CODES.unauthorized, 'expired token');
  assert.equal(await closeCodeOf(`${url}?token=garbage`), CLOSE_CODES.unauthorized, 'forged token');
  assert.equal(await closeCodeOf(`${url}?token=${users.stranger!.token}`), CLOSE_CODES.forbidden, 'stranger');
  assert.equal(await closeCodeOf(`${url}?token=${users.editor!.token}`, { headers: { origin: 'https://evil.example' } }), CLOSE_CODES.forbidden, 'origin');

  // The real y-websocket client without a token is refused the same way, again and again.
  const anonymous = client(1, id, undefined);
  await waitFor(() => anonymous.closes.some((c) => c.code === CLOSE_CODES.unauthorized), { what: 'y-websocket refused with 4401' });
  anonymous.provider.shouldConnect = false;

  // Allowed: an allowed Origin with the token in a header, and a token as subprotocol.
  const viaHeader = new WebSocket(url, { headers: { origin: ALLOWED_ORIGIN, authorization: `Bearer ${users.editor!.token}` } });
  const viaProtocol = new WebSocket(url, ['loom', `loom.bearer.${users.editor!.token}`]);
  for (const ws of [viaHeader, viaProtocol]) {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
  }
  assert.equal(viaProtocol.protocol, 'loom', 'the token-carrying subprotocol is never echoed');
  // Opened, then kept: give the gateway a frame to answer so a refusal would have shown.
  await waitFor(() => viaHeader.readyState === WebSocket.OPEN && viaProtocol.readyState === WebSocket.OPEN, { what: 'sockets stay open' });
  viaHeader.close();
  viaProtocol.close();
});

test("a viewer stays connected read-only: its edits reach neither other clients nor the log", async () => {
  const id = await newDoc({ viewer: 'viewer' });
  const owner = client(0, id, users.owner!.token);
  const viewer = client(1, id, users.viewer!.token);
  await Promise.all([owner.synced(), viewer.synced()]);
  owner.doc.getText('t').insert(0, 'from the owner');
  await waitFor(() => viewer.doc.getText('t').toString() === 'from the owner', { what: 'viewer receives edits' });

  viewer.doc.getText('t').insert(0, 'VIEWER WAS HERE ');
  owner.doc.getText('t').insert(owner.doc.getText('t').length, '!');
  // The owner's later edit arrives everywhere; the viewer's never does.
  await waitFor(async () => (await contentText(id)) === 'from the owner!', { what: 'log has the owner edit only' });
  await waitFor(() => viewer.doc.getText('t').toString().endsWith('from the owner!'), { what: 'viewer still receives' });
  assert.equal(owner.doc.getText('t').toString(), 'from the owner!');
  assert.equal(await contentText(id), 'from the owner!');
  assert.ok(viewer.provider.wsconnected, 'the viewer was not disconnected');
  assert.equal(viewer.closes.length, 0);
  // A late joiner gets the log's state: without the viewer's edit.
  const late = client(0, id, users.owner!.token);
  await late.synced();
  assert.equal(late.doc.getText('t').toString(), 'from the owner!');
});

test('an editor removed on one gateway is disconnected from the other within seconds; a downgraded one becomes read-only', async () => {
  const id = await newDoc({ editor: 'editor', viewer: 'viewer' });
  const removed = client(1, id, users.editor!.token);
  await removed.synced();
  removed.doc.getText('t').insert(0, 'editor was here;');
  await waitFor(async () => (await contentText(id)) === 'editor was here;', { what: 'editor edit durable' });

  assert.equal((await api('DELETE', `/v1/docs/${encodeURIComponent(id)}/members/${users.editor!.id}`, users.owner!.token)).status, 204);
  await waitFor(() => removed.closes.some((c) => c.code === CLOSE_CODES.forbidden), { what: 'removed editor closed with 4403', timeoutMs: 5_000 });
  removed.provider.shouldConnect = false;
  removed.provider.disconnect();

  // Re-shared as an editor, then downgraded to viewer while connected.
  assert.equal((await api('PUT', `/v1/docs/${encodeURIComponent(id)}/members/${users.editor!.id}`, users.owner!.token, { role: 'editor' })).status, 201);
  const downgraded = client(1, id, users.editor!.token);
  await downgraded.synced();
  assert.equal((await api('PUT', `/v1/docs/${encodeURIComponent(id)}/members/${users.editor!.id}`, users.owner!.token, { role: 'viewer' })).status, 200);
  const owner = client(0, id, users.owner!.token);
  await owner.synced();
  // The gateway holding the socket logs the new role once its re-check is done.
  await waitFor(() => gw(1).grep(/"msg":"collab role changed"/).some((l) => l.includes('"role":"viewer"') && l.includes(users.editor!.id)), {
    what: 'gateway 1 applied the viewer role',
  });
  owner.doc.getText('t').insert(0, 'owner;');
  await waitFor(() => downgraded.doc.getText('t').toString().startsWith('owner;'), { what: 'downgraded client still receives' });
  downgraded.doc.getText('t').insert(0, 'SHOULD NOT LAND;');
  owner.doc.getText('t').insert(owner.doc.getText('t').length, 'end');
  await waitFor(async () => (await contentText(id)).endsWith('end'), { what: 'owner edit durable' });
  assert.ok(!(await contentText(id)).includes('SHOULD NOT LAND'), 'a downgraded editor no longer writes');
});

test('restoring a snapshot converges every connected client to it', async () => {
  const id = await newDoc({ editor: 'editor' });
  const a = client(0, id, users.owner!.token);
  const b = client(1, id, users.editor!.token);
  await Promise.all([a.synced(), b.synced()]);
  a.doc.getText('t').insert(0, 'version one');
  await waitFor(async () => (await contentText(id)) === 'version one', { what: 'first version durable' });
  const seq = ((await api('GET', `/v1/docs/${encodeURIComponent(id)}`, users.owner!.token)).body as { seq: number }).seq;
  await waitFor(async () => {
    const r = await api('GET', `/v1/docs/${encodeURIComponent(id)}/snapshots`, users.owner!.token);
    return (r.body as { snapshots: { seq: number }[] }).snapshots.some((s) => s.seq === seq);
  }, { what: 'snapshot of the first version' });

  b.doc.getText('t').insert(11, ' and then some');
  a.doc.getMap('meta').set('later', true);
  await waitFor(() => a.doc.getText('t').toString() === 'version one and then some' && b.doc.getMap('meta').get('later') === true, { what: 'edits exchanged' });

  const restored = await api('POST', `/v1/docs/${encodeURIComponent(id)}/snapshots/${seq}/restore`, users.editor!.token);
  assert.equal(restored.status, 200, JSON.stringify(restored.body));
  await waitFor(
    () => [a, b].every((c) => c.doc.getText('t').toString() === 'version one' && c.doc.getMap('meta').size === 0),
    { what: 'both clients converged to the snapshot' },
  );
  const content = (await api('GET', `/v1/docs/${encodeURIComponent(id)}`, users.owner!.token)).body as { roots: Record<string, { value: unknown }> };
  assert.equal(content.roots.t?.value, 'version one');
  assert.deepEqual(content.roots.meta?.value, {});
});

test('a client flooding messages is closed with 4429', async () => {
  const id = await newDoc({});
  const ws = new WebSocket(`${gw(1).wsUrl}/collab/${encodeURIComponent(id)}?token=${users.owner!.token}`);
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  // Empty sync updates: valid frames that cost the gateway nothing but count against the limit.
  const emptyUpdate = Uint8Array.of(0, 2, 2, 0, 0);
  for (let i = 0; i < 1_000 && ws.readyState === WebSocket.OPEN; i++) ws.send(emptyUpdate);
  assert.equal(await closed, CLOSE_CODES.rateLimited);
});

test('deleting a document closes its sockets and refuses new ones', async () => {
  const id = await newDoc({ editor: 'editor' });
  const c = client(1, id, users.editor!.token);
  await c.synced();
  c.doc.getText('t').insert(0, 'short-lived');
  await waitFor(async () => (await contentText(id)) === 'short-lived', { what: 'edit durable' });
  assert.equal((await api('DELETE', `/v1/docs/${encodeURIComponent(id)}`, users.owner!.token)).status, 204);
  await waitFor(() => c.closes.some((x) => x.code === CLOSE_CODES.forbidden), { what: 'socket closed on delete', timeoutMs: 5_000 });
  c.provider.shouldConnect = false;
  assert.equal(await closeCodeOf(`${gw(0).wsUrl}/collab/${encodeURIComponent(id)}?token=${users.owner!.token}`), CLOSE_CODES.forbidden);
});

test('an internal service cannot plant content under an id nobody registered; once registered, the id takes its writes (issue 12, item 8)', async () => {
  const id = `planted/${randomUUID()}`;
  const service = new ActorClient(cluster.nc, { requestTimeoutMs: 5_000, deadlineMs: 20_000, log: createRootLogger({ level: 'silent', instanceId: 'test' }) });
  const edit = (text: string) => {
    const d = new Y.Doc();
    d.getText('t').insert(0, text);
    return Y.encodeStateAsUpdate(d);
  };
  await assert.rejects(
    service.request('doc', parseActorId(id), 'update', edit('planted')),
    (err: unknown) => err instanceof ProtocolError && err.code === 'not-found' && /not registered/.test(err.message),
  );
  // The actor that refused stays active; registering the id lets the next write in.
  assert.equal((await api('POST', '/v1/docs', users.owner!.token, { id, title: 'Claimed' })).status, 201);
  await service.request('doc', parseActorId(id), 'update', edit('written'));
  assert.equal(await contentText(id), 'written', 'the owner finds only what was written after registration');
});
