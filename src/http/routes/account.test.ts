/**
 * /v1/account in-process (`app.request`) against a real PostgreSQL 15 and a
 * real nats-server with a document actor host in this process, the real
 * accounts and documents modules, a filesystem object store, and jobs
 * recorded in the real job log (privacy-fixture.ts): the export holds
 * everything about the caller and no secret; the deletion hands over or
 * deletes documents by the rule, purges jobs and uploads, revokes
 * credentials, pseudonymises the audit log and frees the email.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { eq, or, sql } from 'drizzle-orm';
import * as Y from 'yjs';
import { documentActorDefinition } from '../../../actors/document/index.ts';
import { accessChangedSchema, type AccessChanged } from '../../../protocol/doc.ts';
import { parseActorId } from '../../../protocol/ids.ts';
import { decodeJson } from '../../../protocol/reply.ts';
import { DOC_LOG_STREAM, docLogSubject } from '../../../protocol/subjects.ts';
import { createAuth, type Auth } from '../../auth/index.ts';
import { loadConfig } from '../../config.ts';
import { DocumentService, natsAccessEvents } from '../../documents/index.ts';
import { ActorHost } from '../../host/actor-host.ts';
import { createRootLogger } from '../../log.ts';
import { JetStreamDocumentLog } from '../../nats/jetstream-document-log.ts';
import { JetStreamAgentLog } from '../../nats/jetstream-agent-log.ts';
import { JetStreamJobLog } from '../../nats/jetstream-job-log.ts';
import { provisionNats, type Provisioned } from '../../nats/provision.ts';
import { ActorClient } from '../../placement/actor-client.ts';
import { createPrivacyServices, EXPORT_FORMAT } from '../../privacy/index.ts';
import { recordAgentSession, recordJob } from '../../testing/privacy-fixture.ts';
import { agentSessions, auditLog, jobs, openDatabase, PostgresAgentProjection, PostgresDocumentRegistry, PostgresJobProjection, PostgresSnapshotStore, uploads, users, type Database } from '../../storage/index.ts';
import { FsObjectStore, GatewayUrlSigner } from '../../storage/objects/index.ts';
import { startNatsServer, startPostgresServer, waitFor, type NatsServerHandle, type PostgresServerHandle } from '../../testing/index.ts';
import { createApp } from '../app.ts';
import { accountRoutes } from './account.ts';
import { apiKeysRoutes } from './api-keys.ts';
import { authRoutes } from './auth.ts';
import { docsRoutes } from './docs.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'account-test' });
const config = loadConfig({ LOOM_JWT_KEYS: `test:${'k'.repeat(40)}`, LOOM_DATA_DIR: tmpdir(), LOOM_RATE_EXPORT_BURST: '2' });
const PASSWORD = 'correct horse battery';

let nats: NatsServerHandle;
let pg: PostgresServerHandle;
let nc: NatsConnection;
let database: Database;
let provisioned: Provisioned;
let host: ActorHost;
let client: ActorClient;
let auth: Auth;
let objects: FsObjectStore;
let objectsDir: string;
let jobLog: JetStreamJobLog;
let projection: PostgresJobProjection;
let agentLog: JetStreamAgentLog;
let agentProjection: PostgresAgentProjection;
let app: ReturnType<typeof createApp>;

interface User {
  readonly id: string;
  readonly email: string;
  readonly token: string;
  readonly refreshToken: string;
}

before(async () => {
  [nats, pg] = await Promise.all([startNatsServer(), startPostgresServer()]);
  nc = await connect({ servers: nats.url });
  provisioned = await provisionNats(nc, { leaseTtlMs: 4_000, logger: log });
  database = await openDatabase({ url: await pg.createDatabase(), logger: log });
  await database.migrate();
  const registry = new PostgresDocumentRegistry(database.db);
  const snapshots = new PostgresSnapshotStore(database.db);
  host = new ActorHost({
    nc,
    leases: provisioned.leases,
    owners: provisioned.owners,
    jsm: provisioned.jsm,
    hostId: 'account-test-host',
    definitions: [
      documentActorDefinition({
        log: new JetStreamDocumentLog(nc, provisioned.jsm, { timeoutMs: 5_000, logger: log, docDebounceMs: 5_000 }),
        snapshots,
        directory: registry,
        limits: { maxUpdateBytes: 256 * 1024, maxAppendBytes: 512 * 1024, maxDocumentBytes: 4 * 1024 * 1024, snapshotEveryUpdates: 100, snapshotEveryBytes: 1024 * 1024 },
      }),
    ],
    leaseTtlMs: 4_000,
    idleMs: 60_000,
    mailbox: { maxMessages: 1_000, maxBytes: 16 * 1024 * 1024 },
    log,
  });
  host.start();
  client = new ActorClient(nc, { requestTimeoutMs: 5_000, deadlineMs: 15_000, log });
  auth = await createAuth({ db: database.db, config, log, hasher: { memoryCostKiB: 1_024, timeCost: 1 } });
  objectsDir = await mkdtemp(path.join(tmpdir(), 'loom-account-objects-'));
  objects = new FsObjectStore({ root: objectsDir, signer: new GatewayUrlSigner(randomBytes(32), () => 'http://127.0.0.1') });
  jobLog = new JetStreamJobLog(nc, provisioned.jsm, { timeoutMs: 5_000, logger: log });
  projection = new PostgresJobProjection(database.db);
  agentLog = new JetStreamAgentLog(nc, provisioned.jsm, { timeoutMs: 5_000, logger: log });
  agentProjection = new PostgresAgentProjection(database.db);
  const documents = new DocumentService({ registry, actors: client, snapshots, accessEvents: natsAccessEvents(nc), objects, audit: auth.audit, access: 'members', log });
  const privacy = createPrivacyServices({
    config,
    db: database.db,
    nc,
    auth,
    documents,
    jobLog,
    objects,
    actors: client,
    log,
    hasher: { memoryCostKiB: 1_024, timeCost: 1 },
  });
  app = createApp({
    log,
    routes: [
      { path: '/v1/auth', router: authRoutes(auth) },
      { path: '/v1/api-keys', router: apiKeysRoutes(auth) },
      { path: '/v1/docs', router: docsRoutes({ service: documents, authenticate: auth.middleware }) },
      { path: '/v1/account', router: accountRoutes({ authenticate: auth.middleware, ...privacy }) },
    ],
    readinessChecks: [],
  });
});

after(async () => {
  await host?.stop();
  await nc?.close();
  await database?.close();
  await nats?.dispose();
  await pg?.dispose();
  if (objectsDir !== undefined) await rm(objectsDir, { recursive: true, force: true });
});

interface Call {
  readonly status: number;
  readonly body: unknown;
  readonly text: string;
  readonly headers: Headers;
}

async function call(method: string, url: string, opts: { token?: string; body?: unknown } = {}): Promise<Call> {
  const headers: Record<string, string> = {};
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await app.request(url, { method, headers, ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }) });
  const text = await res.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // Empty (204) or cut bodies: tests read `text`.
    body = null;
  }
  return { status: res.status, body, text, headers: res.headers };
}

const errorOf = (r: Call) => (r.body as { error: { code: string; field?: string } }).error;

async function newUser(label: string): Promise<User> {
  const email = `${label}-${randomUUID()}@test.example`;
  const r = await call('POST', '/v1/auth/register', { body: { email, password: PASSWORD } });
  assert.equal(r.status, 201, r.text);
  const b = r.body as { user: { id: string }; tokens: { accessToken: string; refreshToken: string } };
  return { id: b.user.id, email, token: b.tokens.accessToken, refreshToken: b.tokens.refreshToken };
}

async function newDoc(owner: User, title: string, text?: string, members: Array<[User, 'owner' | 'editor' | 'viewer']> = []): Promise<string> {
  const r = await call('POST', '/v1/docs', { token: owner.token, body: { title } });
  assert.equal(r.status, 201, r.text);
  const id = (r.body as { id: string }).id;
  for (const [member, role] of members) assert.equal((await call('PUT', `/v1/docs/${id}/members/${member.id}`, { token: owner.token, body: { role } })).status, 201);
  if (text !== undefined) {
    const d = new Y.Doc();
    d.getText('content').insert(0, text);
    await client.request('doc', parseActorId(id), 'update', Y.encodeStateAsUpdate(d));
    d.destroy();
  }
  return id;
}

async function newUpload(owner: User): Promise<{ id: string; objectKey: string }> {
  const id = randomUUID();
  const objectKey = `uploads/${id}/notes.txt`;
  await objects.put(objectKey, Buffer.from('private notes'), { contentType: 'text/plain' });
  await database.db.insert(uploads).values({ id, ownerId: owner.id, filename: 'notes.txt', contentType: 'text/plain', size: 13, objectKey, status: 'complete', expiresAt: new Date(Date.now() + 60_000) });
  return { id, objectKey };
}

const jobDeps = () => ({ jobLog, projection, artifacts: objects });
const agentDeps = () => ({ agentLog, projection: agentProjection });

describe('GET /v1/account/export', () => {
  it('holds the account, sessions, API keys, documents with content, memberships, uploads, jobs and audit entries, and no secret', async () => {
    const me = await newUser('exporter');
    const other = await newUser('colleague');
    const key = await call('POST', '/v1/api-keys', { token: me.token, body: { name: 'ci', scopes: ['docs:read'] } });
    assert.equal(key.status, 201);
    const secret = (key.body as { key: string }).key;
    const owned = await newDoc(me, 'My notes', 'tides turn twice a day', [[other, 'viewer']]);
    const shared = await newDoc(other, 'Their plan', 'not mine', [[me, 'editor']]);
    const job = await recordJob(jobDeps(), { id: `job-${randomUUID()}`, owner: me.id, at: Date.now(), finishedAt: Date.now(), input: { topic: 'my topic' }, output: { text: 'my output' } });
    const upload = await newUpload(me);
    const session = `agent-${randomUUID()}`;
    await recordAgentSession(agentDeps(), { id: session, owner: me.id, at: Date.now(), question: 'what did I ask?', answer: 'you asked this' });

    const res = await app.request('/v1/account/export', { headers: { authorization: `Bearer ${me.token}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.match(res.headers.get('content-disposition') ?? '', /attachment/);
    const reader = res.body?.getReader();
    assert.ok(reader !== undefined);
    const decoder = new TextDecoder();
    let text = '';
    let chunks = 0;
    for (let r = await reader.read(); r.done !== true; r = await reader.read()) {
      text += decoder.decode(r.value, { stream: true });
      chunks++;
    }
    assert.ok(chunks > 5, `streamed in pieces (${chunks} chunks)`);
    const archive = JSON.parse(text) as Record<string, unknown> & {
      account: { id: string; email: string };
      sessions: Array<{ sessionId: string }>;
      apiKeys: Array<{ name: string; prefix: string }>;
      documents: Array<{ id: string; role: string; content?: { text: string }; members?: unknown[] }>;
      uploads: Array<{ id: string; filename: string }>;
      jobs: Array<{ id: string; input: unknown; output: unknown }>;
      agentSessions: Array<{ id: string; ownerId: string }>;
      audit: Array<{ action: string }>;
    };
    assert.equal(archive.format, EXPORT_FORMAT);
    assert.deepEqual([archive.account.id, archive.account.email], [me.id, me.email]);
    assert.equal(archive.sessions.length, 1);
    assert.deepEqual(archive.apiKeys.map((k) => k.name), ['ci']);
    const mine = archive.documents.find((d) => d.id === owned);
    assert.equal(mine?.role, 'owner');
    assert.match(mine?.content?.text ?? '', /tides turn twice a day/);
    assert.equal(mine?.members?.length, 2);
    const theirs = archive.documents.find((d) => d.id === shared);
    assert.equal(theirs?.role, 'editor');
    assert.equal(theirs?.content, undefined, "another owner's content is not in my archive");
    assert.deepEqual(archive.uploads.map((u) => [u.id, u.filename]), [[upload.id, 'notes.txt']]);
    assert.deepEqual(archive.jobs.map((j) => [j.id, j.input, j.output]), [[job.id, { topic: 'my topic' }, { text: 'my output' }]]);
    assert.deepEqual(archive.agentSessions.map((a) => [a.id, a.ownerId]), [[session, me.id]]);
    const transcript = JSON.stringify(archive.agentSessions[0]);
    assert.ok(transcript.includes('what did I ask?'), 'the session transcript is in the archive');
    const actions = archive.audit.map((e) => e.action);
    for (const action of ['auth.register', 'api-key.create', 'account.export']) assert.ok(actions.includes(action), `audit has ${action}`);

    const [row] = await database.db.select().from(users).where(eq(users.id, me.id));
    for (const secretValue of [row?.passwordHash ?? 'x', secret, me.refreshToken, me.token, '$argon2']) {
      assert.ok(!text.includes(secretValue), 'no password hash, key, token or refresh token in the archive');
    }
  });

  it('is for signed-in users: no credentials 401, an API key 403 user-required', async () => {
    const me = await newUser('keyholder');
    assert.equal((await call('GET', '/v1/account/export')).status, 401);
    const key = await call('POST', '/v1/api-keys', { token: me.token, body: { name: 'all', scopes: ['docs:read', 'docs:write', 'jobs:run'] } });
    const r = await call('GET', '/v1/account/export', { token: (key.body as { key: string }).key });
    assert.equal(r.status, 403);
    assert.equal(errorOf(r).code, 'user-required');
  });

  it('runs one at a time per user (409) and is rate limited per user (429 with Retry-After)', async () => {
    const me = await newUser('impatient');
    const first = await app.request('/v1/account/export', { headers: { authorization: `Bearer ${me.token}` } });
    assert.equal(first.status, 200);
    const busy = await call('GET', '/v1/account/export', { token: me.token });
    assert.equal(busy.status, 409);
    assert.equal(errorOf(busy).code, 'export-in-progress');
    await first.body?.cancel();
    // The slot is free once the first export is abandoned; the bucket (2) allows one more, then refuses.
    await waitFor(async () => (await call('GET', '/v1/account/export', { token: me.token })).status === 200, { timeoutMs: 5_000 });
    const limited = await call('GET', '/v1/account/export', { token: me.token });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
  });
});

describe('/openapi.json', () => {
  it('lists the account routes', async () => {
    const doc = (await call('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    assert.ok(doc.paths['/v1/account/export']?.get !== undefined);
    assert.ok(doc.paths['/v1/account']?.delete !== undefined);
  });
});

describe('DELETE /v1/account', () => {
  it('needs the right password (403 naming password, 400 without one) and a signed-in user', async () => {
    const me = await newUser('careful');
    const wrong = await call('DELETE', '/v1/account', { token: me.token, body: { password: 'not it' } });
    assert.equal(wrong.status, 403);
    assert.deepEqual([errorOf(wrong).code, errorOf(wrong).field], ['password-mismatch', 'password']);
    const missing = await call('DELETE', '/v1/account', { token: me.token, body: {} });
    assert.equal(missing.status, 400);
    assert.equal(errorOf(missing).field, 'password');
    const key = await call('POST', '/v1/api-keys', { token: me.token, body: { name: 'k', scopes: ['docs:write'] } });
    assert.equal((await call('DELETE', '/v1/account', { token: (key.body as { key: string }).key, body: { password: PASSWORD } })).status, 403);
    assert.equal((await call('GET', '/v1/auth/me', { token: me.token })).status, 200, 'the account is still there');
  });

  it('hands documents over by the rule, removes memberships, purges jobs and uploads, revokes credentials, pseudonymises the audit log and frees the email', async () => {
    const leaver = await newUser('leaver');
    const editor = await newUser('editor');
    const viewer = await newUser('viewer');
    const owner = await newUser('owner');
    const handedOver = await newDoc(leaver, 'Shared work', 'written together', [[viewer, 'viewer'], [editor, 'editor']]);
    const deleted = await newDoc(leaver, 'Private diary', 'dear diary', [[viewer, 'viewer']]);
    const membership = await newDoc(owner, 'Team doc', 'team text', [[leaver, 'editor']]);
    const job = await recordJob(jobDeps(), { id: `job-${randomUUID()}`, owner: leaver.id, at: Date.now(), finishedAt: Date.now(), input: { topic: 'secret' } });
    const upload = await newUpload(leaver);
    const session = `agent-${randomUUID()}`;
    await recordAgentSession(agentDeps(), { id: session, owner: leaver.id, at: Date.now(), question: 'private question', answer: 'private answer' });
    const key = (await call('POST', '/v1/api-keys', { token: leaver.token, body: { name: 'ci', scopes: ['docs:read'] } })).body as { key: string };
    // An audit entry by someone else that names the leaver in its detail (a share).
    const auditedBefore = await database.db.select({ n: sql<number>`count(*)::int` }).from(auditLog);
    const access: Array<{ docId: string; change: AccessChanged }> = [];
    const sub = nc.subscribe('event.doc.*.access', {
      callback: (_err, msg) => {
        access.push({ docId: msg.subject.split('.')[2] ?? '', change: decodeJson(msg.data, accessChangedSchema, 'access') });
      },
    });

    const r = await call('DELETE', '/v1/account', { token: leaver.token, body: { password: PASSWORD } });

    assert.equal(r.status, 200, r.text);
    const report = r.body as { documentsDeleted: string[]; documentsTransferred: Array<{ id: string; to: string }>; membershipsRemoved: number; jobsRemoved: number; agentSessionsRemoved: number; uploadsRemoved: number; apiKeysRevoked: number; auditEntriesAnonymised: number };
    assert.deepEqual(report.documentsTransferred, [{ id: handedOver, to: editor.id }]);
    assert.deepEqual(report.documentsDeleted, [deleted]);
    assert.deepEqual([report.membershipsRemoved, report.jobsRemoved, report.agentSessionsRemoved, report.uploadsRemoved, report.apiKeysRevoked], [1, 1, 1, 1, 1]);
    assert.ok(report.auditEntriesAnonymised >= 5);

    // Documents: the editor owns the handed-over one (content intact), the viewer-only one is gone, the leaver is no member anywhere.
    const meta = (await call('GET', `/v1/docs/${handedOver}/metadata`, { token: editor.token })).body as { ownerId: string; role: string };
    assert.deepEqual([meta.ownerId, meta.role], [editor.id, 'owner']);
    const members = (await call('GET', `/v1/docs/${handedOver}/members`, { token: editor.token })).body as { members: Array<{ userId: string; role: string }> };
    assert.deepEqual(members.members.map((m) => [m.userId, m.role]).sort(), [[editor.id, 'owner'], [viewer.id, 'viewer']].sort());
    const content = await call('GET', `/v1/docs/${handedOver}?format=text`, { token: editor.token });
    assert.match(content.text, /written together/);
    assert.equal((await call('GET', `/v1/docs/${deleted}/members`, { token: viewer.token })).status, 404);
    const docLog = await provisioned.jsm.streams.info(DOC_LOG_STREAM, { subjects_filter: docLogSubject(parseActorId(deleted)) });
    assert.equal(Object.keys(docLog.state.subjects ?? {}).length, 0, "the deleted document's log is gone");
    const teamMembers = (await call('GET', `/v1/docs/${membership}/members`, { token: owner.token })).body as { members: Array<{ userId: string }> };
    assert.ok(!teamMembers.members.some((m) => m.userId === leaver.id));
    await waitFor(() => access.length >= 3, { timeoutMs: 5_000 });
    sub.unsubscribe();
    assert.ok(access.some((a) => a.change.change === 'member-removed' && a.change.userId === leaver.id), 'gateways are told to close the leaver sockets');
    assert.ok(access.some((a) => a.change.change === 'document-deleted'));

    // Jobs, agent sessions and uploads are purged.
    assert.equal(await agentLog.last(session), null);
    assert.equal((await database.db.select().from(agentSessions).where(eq(agentSessions.id, session))).length, 0);
    assert.equal(await jobLog.lastSeq(job.id), 0);
    assert.equal((await database.db.select().from(jobs).where(eq(jobs.id, job.id))).length, 0);
    assert.equal(await objects.stat(job.artifactKey), null);
    assert.equal((await database.db.select().from(uploads).where(eq(uploads.id, upload.id))).length, 0);
    assert.equal(await objects.stat(upload.objectKey), null);

    // Credentials: the key, the refresh token and the session's access token are refused; the password no longer signs in; the email registers again.
    assert.equal((await call('GET', '/v1/auth/me', { token: key.key })).status, 401);
    assert.equal((await call('POST', '/v1/auth/refresh', { body: { refreshToken: leaver.refreshToken } })).status, 401);
    assert.equal((await call('POST', '/v1/auth/login', { body: { email: leaver.email, password: PASSWORD } })).status, 401);
    assert.equal((await call('POST', '/v1/auth/register', { body: { email: leaver.email, password: PASSWORD } })).status, 201);
    assert.equal((await call('GET', '/v1/account/export', { token: leaver.token })).status, 401, "a deleted account's access token works nowhere");

    // The audit log keeps its entries (and one more), naming the leaver only by a pseudonym, without their addresses.
    const auditedAfter = await database.db.select({ n: sql<number>`count(*)::int` }).from(auditLog);
    assert.ok((auditedAfter[0]?.n ?? 0) > (auditedBefore[0]?.n ?? 0));
    const naming = await database.db
      .select()
      .from(auditLog)
      .where(or(eq(auditLog.actorUserId, leaver.id), eq(auditLog.targetId, leaver.id), sql`${auditLog.detail}::text like ${`%${leaver.id}%`}`, sql`${auditLog.detail}::text ilike ${`%${leaver.email}%`}`));
    assert.deepEqual(naming, [], 'no entry names the leaver');
    const [deletion] = await database.db.select().from(auditLog).where(eq(auditLog.action, 'account.delete'));
    assert.ok(deletion?.actorUserId !== null && deletion?.actorUserId !== undefined);
    const theirs = await database.db.select().from(auditLog).where(eq(auditLog.actorUserId, deletion.actorUserId));
    assert.ok(theirs.length >= 5, 'the leaver entries stay, linked by one pseudonym');
    assert.ok(theirs.every((e) => e.ip === null));
    const [row] = await database.db.select().from(users).where(eq(users.id, leaver.id));
    assert.ok(row !== undefined && row.email !== leaver.email && row.email.endsWith('@deleted.invalid'));
  });
});
