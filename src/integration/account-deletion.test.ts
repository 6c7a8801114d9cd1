/**
 * Account deletion and the retention purge end to end, through real
 * processes (one actor host, two gateways, LOOM_DOC_ACCESS=members) and the
 * real y-websocket client: deleting an account closes the user's open
 * sockets on every gateway (/collab through the documents' access events,
 * /ws through the revocation of its sessions and API keys), hands a shared document to its
 * editor, who stays connected and keeps the text; and the actor host runs
 * the retention purge it was configured with.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { WebSocket } from 'ws';
import { CLOSE_CODES } from '../../protocol/errors.ts';
import { createRootLogger } from '../log.ts';
import { jobs, openDatabase } from '../storage/index.ts';
import { connectCollabClient, waitFor, type CollabClient } from '../testing/index.ts';
import { startCluster, type ClusterFixture } from './cluster-fixture.ts';

const PASSWORD = 'correct horse battery';

let cluster: ClusterFixture;
const clients: CollabClient[] = [];
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

async function register(name: string): Promise<{ id: string; token: string }> {
  const r = await api('POST', '/v1/auth/register', undefined, { email: `${name}-${randomUUID()}@test.example`, password: PASSWORD });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  const b = r.body as { user: { id: string }; tokens: { accessToken: string } };
  return { id: b.user.id, token: b.tokens.accessToken };
}

function client(gateway: number, room: string, token: string): CollabClient {
  const c = connectCollabClient(gw(gateway).wsUrl, encodeURIComponent(room), { params: { token } });
  clients.push(c);
  return c;
}

/** Opens a socket; resolves once it is open, with a promise of its close code (wrapped: an async function would wait for it). */
async function openSocket(url: string): Promise<{ closed: Promise<number> }> {
  const ws = new WebSocket(url);
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { closed };
}

before(async () => {
  cluster = await startCluster({
    hosts: 1,
    gateways: 2,
    // Any age turns the purge on; nothing in this fresh cluster is old enough to go.
    env: { LOOM_DOC_ACCESS: 'members', LOOM_RETENTION_AUDIT_DAYS: '365', LOOM_RETENTION_INTERVAL_MS: '1000' },
  });
});

after(async () => {
  for (const c of clients) c.destroy();
  await cluster.stop();
});

test("deleting an account closes the user's sockets on every gateway and hands the shared document to its editor", async (t) => {
  const t0 = Date.now();
  const mark = (what: string) => t.diagnostic(`${what} at ${Date.now() - t0} ms`);
  const leaver = await register('leaver');
  const editor = await register('editor');
  const shared = `account/${randomUUID()}`;
  const own = `account/${randomUUID()}`;
  assert.equal((await api('POST', '/v1/docs', leaver.token, { id: shared, title: 'Shared' })).status, 201);
  assert.equal((await api('POST', '/v1/docs', leaver.token, { id: own, title: 'Own' })).status, 201);
  assert.equal((await api('PUT', `/v1/docs/${encodeURIComponent(shared)}/members/${editor.id}`, leaver.token, { role: 'editor' })).status, 201);

  const leaverShared = client(0, shared, leaver.token);
  const leaverOwn = client(1, own, leaver.token);
  const editorShared = client(1, shared, editor.token);
  await Promise.all([leaverShared.synced(), leaverOwn.synced(), editorShared.synced()]);
  mark('synced');
  leaverShared.doc.getText('content').insert(0, 'written by the leaver. ');
  await waitFor(() => editorShared.doc.getText('content').toString().includes('written by the leaver'), { what: 'the editor sees the text' });
  const key = await api('POST', '/v1/api-keys', leaver.token, { name: 'service', scopes: ['jobs:run'] });
  assert.equal(key.status, 201);
  // One /ws socket opened with the session's access token (on gateway 1), one with the API key (on gateway 0).
  const [jobsSocket, keySocket] = await Promise.all([
    openSocket(`${gw(1).wsUrl}/ws?token=${leaver.token}`),
    openSocket(`${gw(0).wsUrl}/ws?token=${(key.body as { key: string }).key}`),
  ]);

  mark('ws open');
  // A job still running (no inference worker serves its model here): deletion cancels it, then purges it.
  const started = await api('POST', '/v1/jobs', leaver.token, { kind: 'document.generate', input: { topic: 'My private topic', sections: 2 } });
  assert.equal(started.status, 201, JSON.stringify(started.body));
  const jobId = (started.body as { job: { id: string; status: string } }).job.id;
  const r = await api('DELETE', '/v1/account', leaver.token, { password: PASSWORD });
  mark('deleted');
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual((r.body as { documentsTransferred: unknown }).documentsTransferred, [{ id: shared, to: editor.id }]);
  assert.equal((r.body as { jobsRemoved: number }).jobsRemoved, 1);
  // Its sessions ended with the account, so its access token no longer works; and the job is gone: no log, no row (a late projection write from the cancelled actor included).
  assert.equal((await api('GET', `/v1/jobs/${jobId}`, leaver.token)).status, 401);
  const database = await openDatabase({ url: cluster.databaseUrl, logger: createRootLogger({ level: 'silent', instanceId: 'test' }) });
  try {
    assert.deepEqual(await database.db.select().from(jobs).where(eq(jobs.id, jobId)), []);
  } finally {
    await database.close();
  }

  const closedWith = (c: CollabClient, codes: number[]) => c.closes.some((x) => codes.includes(x.code));
  await waitFor(() => closedWith(leaverShared, [CLOSE_CODES.forbidden, CLOSE_CODES.unauthorized]), { what: 'the leaver socket on the handed-over document closed', timeoutMs: 10_000 });
  await waitFor(() => closedWith(leaverOwn, [CLOSE_CODES.forbidden, CLOSE_CODES.unauthorized]), { what: 'the leaver socket on the deleted document closed', timeoutMs: 10_000 });
  mark('collab closed');
  leaverShared.provider.shouldConnect = false;
  leaverOwn.provider.shouldConnect = false;
  assert.equal(await jobsSocket.closed, CLOSE_CODES.unauthorized, 'the /ws socket of the ended session is closed with 4401');
  assert.equal(await keySocket.closed, CLOSE_CODES.unauthorized, 'the /ws socket of the revoked API key is closed with 4401');

  mark('ws closed');
  // The editor stays connected, now as the owner, and the text is still there.
  assert.ok(!closedWith(editorShared, [CLOSE_CODES.forbidden, CLOSE_CODES.unauthorized]));
  editorShared.doc.getText('content').insert(0, 'kept by the heir. ');
  const content = await fetch(`${gw(0).httpUrl}/v1/docs/${encodeURIComponent(shared)}?format=text`, { headers: { authorization: `Bearer ${editor.token}` } });
  mark('content fetched');
  assert.equal(content.status, 200);
  assert.match(await content.text(), /written by the leaver/);
  mark('content read');
  const meta = await api('GET', `/v1/docs/${encodeURIComponent(shared)}/metadata`, editor.token);
  assert.equal((meta.body as { role: string }).role, 'owner');
  mark('meta');
});

test('the actor host runs the retention purge it is configured with, and logs its counts', async () => {
  const host = cluster.hosts[0]!;
  await waitFor(() => host.grep(/retention purge done/).length > 0, { what: 'a retention sweep logged', timeoutMs: 20_000 });
  assert.match(host.grep(/retention purge done/)[0] ?? '', /"auditEntries":\d+/);
});
