/**
 * The documents API in-process (`app.request`) against a real PostgreSQL 15,
 * a real nats-server with an actor host in this process, the real accounts
 * module and a filesystem object store. Every route: success, 401, 403, 404
 * and 400 naming the field; deletion removes log, snapshots and objects;
 * exports; snapshots and restore; access events on unshare.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { eq } from 'drizzle-orm';
import * as Y from 'yjs';
import { documentActorDefinition } from '../../../actors/document/index.ts';
import { accessChangedSchema, docContentSchema } from '../../../protocol/doc.ts';
import { parseActorId } from '../../../protocol/ids.ts';
import { decodeJson } from '../../../protocol/reply.ts';
import { DOC_LOG_STREAM, docChangeMarkSubject, docLogSubject, eventSubject } from '../../../protocol/subjects.ts';
import { createAuth, type Auth } from '../../auth/index.ts';
import { loadConfig } from '../../config.ts';
import { DocumentService, documentObjectPrefix, natsAccessEvents } from '../../documents/index.ts';
import { ActorHost } from '../../host/actor-host.ts';
import { createRootLogger } from '../../log.ts';
import { JetStreamDocumentLog } from '../../nats/jetstream-document-log.ts';
import { provisionNats, type Provisioned } from '../../nats/provision.ts';
import { ActorClient } from '../../placement/actor-client.ts';
import { docSnapshots, openDatabase, PostgresDocumentRegistry, PostgresSnapshotStore, type Database } from '../../storage/index.ts';
import { FsObjectStore, GatewayUrlSigner } from '../../storage/objects/index.ts';
import { startNatsServer, startPostgresServer, waitFor, type NatsServerHandle, type PostgresServerHandle } from '../../testing/index.ts';
import { createApp } from '../app.ts';
import { auditRoutes, defaultOwnershipChecks } from './audit.ts';
import { docsRoutes } from './docs.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'docs-test' });
const config = loadConfig({ LOOM_JWT_KEYS: `test:${'k'.repeat(40)}`, LOOM_DATA_DIR: tmpdir() });

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
let app: ReturnType<typeof createApp>;

interface TestUser {
  readonly id: string;
  readonly token: string;
}
const users: Record<'owner' | 'editor' | 'viewer' | 'stranger', TestUser> = {} as Record<'owner' | 'editor' | 'viewer' | 'stranger', TestUser>;
const emails: Record<string, string> = {};

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
    hostId: 'docs-test-host',
    definitions: [
      documentActorDefinition({
        log: new JetStreamDocumentLog(nc, provisioned.jsm, { timeoutMs: 5_000, logger: log, docDebounceMs: 5_000 }),
        snapshots,
        directory: registry,
        // A snapshot after every append, so the snapshot routes have versions to show.
        limits: { maxUpdateBytes: 256 * 1024, maxAppendBytes: 512 * 1024, maxDocumentBytes: 4 * 1024 * 1024, snapshotEveryUpdates: 1, snapshotEveryBytes: 1024 * 1024 },
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
  objectsDir = await mkdtemp(path.join(tmpdir(), 'loom-docs-objects-'));
  objects = new FsObjectStore({ root: objectsDir, signer: new GatewayUrlSigner(randomBytes(32), () => 'http://127.0.0.1') });
  const service = new DocumentService({
    registry,
    actors: client,
    snapshots,
    accessEvents: natsAccessEvents(nc),
    objects,
    audit: auth.audit,
    users: { findByEmail: (email) => auth.accounts.findByEmail(email) },
    access: 'members',
    log,
  });
  app = createApp({
    log,
    routes: [
      { path: '/v1/docs', router: docsRoutes({ service, authenticate: auth.middleware }) },
      { path: '/v1/audit', router: auditRoutes(auth, { ...defaultOwnershipChecks(auth), doc: (p, id) => service.ownership(p, id) }) },
    ],
    readinessChecks: [],
  });
  for (const name of ['owner', 'editor', 'viewer', 'stranger'] as const) {
    const email = `${name}-${randomUUID()}@test.example`;
    const { user, tokens } = await auth.accounts.register({ email, password: 'correct horse battery' });
    users[name] = { id: user.id, token: tokens.accessToken };
    emails[name] = email;
  }
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

async function call(method: string, url: string, opts: { as?: TestUser | string; body?: unknown; accept?: string } = {}): Promise<Call> {
  const headers: Record<string, string> = {};
  if (opts.as !== undefined) headers.authorization = `Bearer ${typeof opts.as === 'string' ? opts.as : opts.as.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (opts.accept !== undefined) headers.accept = opts.accept;
  const res = await app.request(url, { method, headers, ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }) });
  const text = await res.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON (text and Markdown exports, empty 204 bodies): tests read `text`.
    body = null;
  }
  return { status: res.status, body, text, headers: res.headers };
}

function errorOf(r: Call): { code: string; field?: string } {
  return (r.body as { error: { code: string; field?: string } }).error;
}

const docUrl = (id: string, rest = '') => `/v1/docs/${encodeURIComponent(id)}${rest}`;

/** A document owned by `owner`, shared with editor and viewer. */
async function sharedDoc(title = 'Shared'): Promise<string> {
  const created = await call('POST', '/v1/docs', { as: users.owner, body: { title } });
  assert.equal(created.status, 201, created.text);
  const id = (created.body as { id: string }).id;
  assert.equal((await call('PUT', docUrl(id, `/members/${users.editor.id}`), { as: users.owner, body: { role: 'editor' } })).status, 201);
  assert.equal((await call('PUT', docUrl(id, `/members/${users.viewer.id}`), { as: users.owner, body: { role: 'viewer' } })).status, 201);
  return id;
}

/** Writes a prosemirror-style document through the actor, as an editor's client would. */
async function writeProseMirror(id: string): Promise<void> {
  const d = new Y.Doc();
  const heading = new Y.XmlElement('heading');
  heading.setAttribute('level', '1');
  heading.insert(0, [new Y.XmlText('Plan')]);
  const p = new Y.XmlElement('paragraph');
  const t = new Y.XmlText();
  t.insert(0, 'ship ');
  t.insert(5, 'it', { bold: {} });
  p.insert(0, [t]);
  const list = new Y.XmlElement('bullet_list');
  const item = new Y.XmlElement('list_item');
  const ip = new Y.XmlElement('paragraph');
  ip.insert(0, [new Y.XmlText('first')]);
  item.insert(0, [ip]);
  list.insert(0, [item]);
  d.getXmlFragment('prosemirror').insert(0, [heading, p, list]);
  await client.request('doc', parseActorId(id), 'update', Y.encodeStateAsUpdate(d));
  d.destroy();
}

describe('POST /v1/docs', () => {
  it('creates with a generated id or a chosen one, owned by the caller', async () => {
    const r = await call('POST', '/v1/docs', { as: users.owner, body: { title: 'Plan' } });
    assert.equal(r.status, 201);
    const doc = r.body as { id: string; title: string; ownerId: string; role: string };
    assert.deepEqual([doc.title, doc.ownerId, doc.role], ['Plan', users.owner.id, 'owner']);
    const chosen = `team/notes:${randomUUID()}.md`;
    const c = await call('POST', '/v1/docs', { as: users.owner, body: { id: chosen, title: 'Chosen' } });
    assert.equal(c.status, 201);
    assert.equal((c.body as { id: string }).id, chosen);
    const again = await call('POST', '/v1/docs', { as: users.editor, body: { id: chosen, title: 'Mine now' } });
    assert.equal(again.status, 409);
    assert.equal(errorOf(again).code, 'document-exists');
  });

  it('refuses without credentials (401), a read-only API key (403), and bad fields (400)', async () => {
    assert.equal((await call('POST', '/v1/docs', { body: { title: 'x' } })).status, 401);
    const key = await auth.apiKeys.create(users.owner.id, { name: 'reader', scopes: ['docs:read'] });
    const byKey = await call('POST', '/v1/docs', { as: key.key, body: { title: 'x' } });
    assert.equal(byKey.status, 403);
    assert.equal(errorOf(byKey).code, 'insufficient-scope');
    const noTitle = await call('POST', '/v1/docs', { as: users.owner, body: {} });
    assert.deepEqual([noTitle.status, errorOf(noTitle).field], [400, 'title']);
    const badId = await call('POST', '/v1/docs', { as: users.owner, body: { title: 'x', id: 'bad\u0001id' } });
    assert.deepEqual([badId.status, errorOf(badId).field], [400, 'id']);
  });
});

describe('GET /v1/docs', () => {
  it('lists documents I own and documents shared with me, page by page', async () => {
    const id = await sharedDoc('Listed');
    const viewerPage = await call('GET', '/v1/docs?scope=shared&limit=100', { as: users.viewer });
    assert.equal(viewerPage.status, 200);
    const listed = (viewerPage.body as { documents: { id: string; role: string }[] }).documents.find((d) => d.id === id);
    assert.equal(listed?.role, 'viewer');
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Call = await call('GET', `/v1/docs?scope=owned&limit=2${cursor === null ? '' : `&cursor=${cursor}`}`, { as: users.owner });
      assert.equal(page.status, 200);
      const body = page.body as { documents: { id: string }[]; nextCursor: string | null };
      assert.ok(body.documents.length <= 2);
      seen.push(...body.documents.map((d) => d.id));
      cursor = body.nextCursor;
    } while (cursor !== null);
    assert.ok(seen.includes(id));
    assert.equal(new Set(seen).size, seen.length, 'no document on two pages');
    const strangers = await call('GET', '/v1/docs', { as: users.stranger });
    assert.ok(!(strangers.body as { documents: { id: string }[] }).documents.some((d) => d.id === id));
  });

  it('answers 401 without credentials and 400 naming a bad cursor or limit', async () => {
    assert.equal((await call('GET', '/v1/docs')).status, 401);
    const cursor = await call('GET', '/v1/docs?cursor=nonsense', { as: users.owner });
    assert.deepEqual([cursor.status, errorOf(cursor).field], [400, 'cursor']);
    const limit = await call('GET', '/v1/docs?limit=0', { as: users.owner });
    assert.deepEqual([limit.status, errorOf(limit).field], [400, 'limit']);
  });
});

describe('metadata and rename', () => {
  it('shows metadata to members with their role; 401, 403, 404 and 400 otherwise', async () => {
    const id = await sharedDoc('Meta');
    const meta = await call('GET', docUrl(id, '/metadata'), { as: users.viewer });
    assert.equal(meta.status, 200);
    assert.deepEqual([(meta.body as { title: string }).title, (meta.body as { role: string }).role], ['Meta', 'viewer']);
    assert.equal((await call('GET', docUrl(id, '/metadata'))).status, 401);
    const stranger = await call('GET', docUrl(id, '/metadata'), { as: users.stranger });
    assert.deepEqual([stranger.status, errorOf(stranger).code], [403, 'not-a-member']);
    assert.equal((await call('GET', docUrl(`missing-${randomUUID()}`, '/metadata'), { as: users.owner })).status, 404);
    const bad = await call('GET', '/v1/docs/%01/metadata', { as: users.owner });
    assert.deepEqual([bad.status, errorOf(bad).field], [400, 'id']);
  });

  it('lets editors rename, not viewers', async () => {
    const id = await sharedDoc('Before');
    const renamed = await call('PATCH', docUrl(id), { as: users.editor, body: { title: 'After' } });
    assert.equal(renamed.status, 200);
    assert.equal((renamed.body as { title: string }).title, 'After');
    const viewer = await call('PATCH', docUrl(id), { as: users.viewer, body: { title: 'No' } });
    assert.deepEqual([viewer.status, errorOf(viewer).code], [403, 'role-required']);
    assert.equal((await call('PATCH', docUrl(id), { body: { title: 'No' } })).status, 401);
    assert.equal((await call('PATCH', docUrl(`missing-${randomUUID()}`), { as: users.owner, body: { title: 'No' } })).status, 404);
    const empty = await call('PATCH', docUrl(id), { as: users.owner, body: { title: '  ' } });
    assert.deepEqual([empty.status, errorOf(empty).field], [400, 'title']);
  });
});

describe('members', () => {
  it('shares, changes roles, lists and unshares, announcing every loss of rights', async () => {
    const id = await sharedDoc('Members');
    const sub = nc.subscribe(eventSubject('doc', parseActorId(id), 'access'));
    const events: unknown[] = [];
    void (async () => {
      for await (const m of sub) events.push(decodeJson(m.data, accessChangedSchema, 'access event'));
    })();
    await nc.flush();
    const list = await call('GET', docUrl(id, '/members'), { as: users.viewer });
    assert.equal(list.status, 200);
    assert.deepEqual(
      (list.body as { members: { userId: string; role: string }[] }).members.map((m) => [m.userId, m.role]),
      [[users.owner.id, 'owner'], [users.editor.id, 'editor'], [users.viewer.id, 'viewer']],
    );
    const changed = await call('PUT', docUrl(id, `/members/${users.editor.id}`), { as: users.owner, body: { role: 'viewer' } });
    assert.equal(changed.status, 200);
    assert.equal((changed.body as { role: string }).role, 'viewer');
    assert.equal((await call('DELETE', docUrl(id, `/members/${users.editor.id}`), { as: users.owner })).status, 204);
    assert.equal((await call('DELETE', docUrl(id, `/members/${users.viewer.id}`), { as: users.viewer })).status, 204, 'a member may leave');
    await waitFor(() => events.length === 3, { what: 'three access events' });
    assert.deepEqual(events, [
      { change: 'member-changed', userId: users.editor.id },
      { change: 'member-removed', userId: users.editor.id },
      { change: 'member-removed', userId: users.viewer.id },
    ]);
    sub.unsubscribe();
    assert.equal((await call('GET', docUrl(id, '/metadata'), { as: users.editor })).status, 403, 'removed means removed');
  });

  it('refuses non-owners (403), unknown users and members (404), the creator (409), bad fields (400), no credentials (401)', async () => {
    const id = await sharedDoc('Guarded');
    const byEditor = await call('PUT', docUrl(id, `/members/${users.stranger.id}`), { as: users.editor, body: { role: 'viewer' } });
    assert.deepEqual([byEditor.status, errorOf(byEditor).code], [403, 'role-required']);
    assert.equal((await call('DELETE', docUrl(id, `/members/${users.viewer.id}`), { as: users.editor })).status, 403);
    const unknown = await call('PUT', docUrl(id, `/members/${randomUUID()}`), { as: users.owner, body: { role: 'viewer' } });
    assert.deepEqual([unknown.status, errorOf(unknown).code, errorOf(unknown).field], [404, 'user-not-found', 'userId']);
    assert.equal((await call('DELETE', docUrl(id, `/members/${users.stranger.id}`), { as: users.owner })).status, 404);
    assert.equal((await call('GET', docUrl(`missing-${randomUUID()}`, '/members'), { as: users.owner })).status, 404);
    const creator = await call('PUT', docUrl(id, `/members/${users.owner.id}`), { as: users.owner, body: { role: 'viewer' } });
    assert.deepEqual([creator.status, errorOf(creator).code], [409, 'owner-fixed']);
    const badUser = await call('PUT', docUrl(id, '/members/not-a-uuid'), { as: users.owner, body: { role: 'viewer' } });
    assert.deepEqual([badUser.status, errorOf(badUser).field], [400, 'userId']);
    const badRole = await call('PUT', docUrl(id, `/members/${users.stranger.id}`), { as: users.owner, body: { role: 'admin' } });
    assert.deepEqual([badRole.status, errorOf(badRole).field], [400, 'role']);
    assert.equal((await call('GET', docUrl(id, '/members'))).status, 401);
    assert.equal((await call('GET', docUrl(id, '/members'), { as: users.stranger })).status, 403);
  });

  it('shares by email (any case) and changes the role the same way; refuses unknown emails (404 naming email), non-owners (403) before looking the email up, bad fields (400)', async () => {
    const id = await sharedDoc('By email');
    const added = await call('POST', docUrl(id, '/members'), { as: users.owner, body: { email: (emails['stranger'] ?? '').toUpperCase(), role: 'viewer' } });
    assert.equal(added.status, 201, added.text);
    assert.deepEqual([(added.body as { userId: string }).userId, (added.body as { role: string }).role], [users.stranger.id, 'viewer']);
    const changed = await call('POST', docUrl(id, '/members'), { as: users.owner, body: { email: emails['stranger'], role: 'editor' } });
    assert.deepEqual([changed.status, (changed.body as { role: string }).role], [200, 'editor']);
    const unknown = await call('POST', docUrl(id, '/members'), { as: users.owner, body: { email: `nobody-${randomUUID()}@test.example`, role: 'viewer' } });
    assert.deepEqual([unknown.status, errorOf(unknown).code, errorOf(unknown).field], [404, 'user-not-found', 'email']);
    const byEditor = await call('POST', docUrl(id, '/members'), { as: users.editor, body: { email: `nobody-${randomUUID()}@test.example`, role: 'viewer' } });
    assert.deepEqual([byEditor.status, errorOf(byEditor).code], [403, 'role-required'], 'a non-owner learns nothing about the email');
    const badEmail = await call('POST', docUrl(id, '/members'), { as: users.owner, body: { email: 'not an email', role: 'viewer' } });
    assert.deepEqual([badEmail.status, errorOf(badEmail).field], [400, 'email']);
    const badRole = await call('POST', docUrl(id, '/members'), { as: users.owner, body: { email: emails['stranger'], role: 'admin' } });
    assert.deepEqual([badRole.status, errorOf(badRole).field], [400, 'role']);
    const creator = await call('POST', docUrl(id, '/members'), { as: users.owner, body: { email: emails['owner'], role: 'viewer' } });
    assert.deepEqual([creator.status, errorOf(creator).code], [409, 'owner-fixed']);
  });
});

describe('content and export', () => {
  it('serves content and exports JSON, text and Markdown to members', async () => {
    const id = await sharedDoc('Export me');
    await writeProseMirror(id);
    const json = await call('GET', docUrl(id), { as: users.viewer });
    assert.equal(json.status, 200);
    assert.equal((json.body as { roots: Record<string, { type: string }> }).roots.prosemirror?.type, 'xml');
    assert.equal((await call('GET', docUrl(id, '?format=text'), { as: users.viewer })).text, 'Plan\nship it\nfirst');
    const md = await call('GET', docUrl(id, '/export?format=markdown'), { as: users.viewer });
    assert.equal(md.status, 200);
    assert.match(md.headers.get('content-type') ?? '', /^text\/markdown/);
    assert.match(md.headers.get('content-disposition') ?? '', /filename="Export me\.md"/);
    assert.equal(md.text, '# Plan\n\nship **it**\n\n- first');
    const text = await call('GET', docUrl(id, '/export?format=text'), { as: users.viewer });
    assert.deepEqual([text.status, text.text], [200, 'Plan\nship it\nfirst']);
    const asJson = await call('GET', docUrl(id, '/export'), { as: users.viewer });
    assert.equal((asJson.body as { markdown: string }).markdown, md.text);
  });

  it('refuses strangers (403), no credentials (401), unknown documents (404), bad formats (400), Markdown of a map (422)', async () => {
    const id = await sharedDoc('Map');
    const d = new Y.Doc();
    d.getMap('settings').set('a', 1);
    await client.request('doc', parseActorId(id), 'update', Y.encodeStateAsUpdate(d));
    d.destroy();
    assert.equal((await call('GET', docUrl(id), { as: users.stranger })).status, 403);
    assert.equal((await call('GET', docUrl(id, '/export'), { as: users.stranger })).status, 403);
    assert.equal((await call('GET', docUrl(id))).status, 401);
    assert.equal((await call('GET', docUrl(id, '/export'))).status, 401);
    assert.equal((await call('GET', docUrl(`missing-${randomUUID()}`, '/export'), { as: users.owner })).status, 404);
    const badFormat = await call('GET', docUrl(id, '/export?format=pdf'), { as: users.owner });
    assert.deepEqual([badFormat.status, errorOf(badFormat).field], [400, 'format']);
    const mapMd = await call('GET', docUrl(id, '/export?format=markdown'), { as: users.owner });
    assert.deepEqual([mapMd.status, errorOf(mapMd).code], [422, 'not-a-text-document']);
    const empty = await sharedDoc('Empty');
    const fresh = await call('GET', docUrl(empty), { as: users.owner });
    assert.deepEqual([fresh.status, (fresh.body as { seq: number }).seq], [200, 0], 'a registered document never written reads as empty');
  });
});

describe('snapshots', () => {
  it('lists versions and restores one as a new version', async () => {
    const id = await sharedDoc('Versions');
    const docId = parseActorId(id);
    const d = new Y.Doc();
    d.getText('t').insert(0, 'first version');
    await client.request('doc', docId, 'update', Y.encodeStateAsUpdate(d));
    const firstSeq = (decodeJson((await client.request('doc', docId, 'content', new Uint8Array(0))).body, docContentSchema, 'content')).seq;
    const snapshotAt = async (seq: number) =>
      ((await call('GET', docUrl(id, '/snapshots'), { as: users.viewer })).body as { snapshots: { seq: number }[] }).snapshots.some((s) => s.seq === seq);
    await waitFor(() => snapshotAt(firstSeq), { what: 'a snapshot of the first version' });
    const sv = Y.encodeStateVector(d);
    d.getText('t').insert(0, 'second, not ');
    await client.request('doc', docId, 'update', Y.encodeStateAsUpdate(d, sv));

    const viewer = await call('POST', docUrl(id, `/snapshots/${firstSeq}/restore`), { as: users.viewer });
    assert.equal(viewer.status, 403);
    const restored = await call('POST', docUrl(id, `/snapshots/${firstSeq}/restore`), { as: users.editor });
    assert.equal(restored.status, 200, restored.text);
    assert.equal((restored.body as { changed: boolean }).changed, true);
    assert.equal((await call('GET', docUrl(id, '?format=text'), { as: users.viewer })).text, 'first version');
    d.destroy();

    assert.equal((await call('POST', docUrl(id, '/snapshots/999999999/restore'), { as: users.editor })).status, 404);
    const badSeq = await call('POST', docUrl(id, '/snapshots/abc/restore'), { as: users.editor });
    assert.deepEqual([badSeq.status, errorOf(badSeq).field], [400, 'seq']);
    assert.equal((await call('GET', docUrl(id, '/snapshots'))).status, 401);
    assert.equal((await call('GET', docUrl(id, '/snapshots'), { as: users.stranger })).status, 403);
    assert.equal((await call('GET', docUrl(`missing-${randomUUID()}`, '/snapshots'), { as: users.owner })).status, 404);
  });
});

describe('DELETE /v1/docs/:id', () => {
  it('removes the log, the snapshots and the objects; only the owner may; the id stays taken', async () => {
    const id = await sharedDoc('Doomed');
    const docId = parseActorId(id);
    await writeProseMirror(id);
    await waitFor(async () => (await database.db.select().from(docSnapshots).where(eq(docSnapshots.docId, id))).length > 0, { what: 'a snapshot' });
    await objects.put(`${documentObjectPrefix(docId)}cover.png`, new Uint8Array([1, 2, 3]), { contentType: 'image/png' });
    assert.equal((await provisioned.jsm.streams.getMessage(DOC_LOG_STREAM, { last_by_subj: docLogSubject(docId) }))?.seq !== undefined, true);
    assert.notEqual(await provisioned.jsm.streams.getMessage(DOC_LOG_STREAM, { last_by_subj: docChangeMarkSubject(docId) }), null, 'the edits were marked for doc.updated');

    assert.equal((await call('DELETE', docUrl(id), { as: users.editor })).status, 403);
    assert.equal((await call('DELETE', docUrl(id))).status, 401);
    assert.equal((await call('DELETE', docUrl(`missing-${randomUUID()}`), { as: users.owner })).status, 404);
    assert.equal((await call('DELETE', docUrl(id), { as: users.owner })).status, 204);

    assert.equal(await provisioned.jsm.streams.getMessage(DOC_LOG_STREAM, { last_by_subj: docLogSubject(docId) }), null, 'log subject empty');
    assert.equal(await provisioned.jsm.streams.getMessage(DOC_LOG_STREAM, { last_by_subj: docChangeMarkSubject(docId) }), null, 'change marks gone');
    assert.equal((await database.db.select().from(docSnapshots).where(eq(docSnapshots.docId, id))).length, 0, 'snapshot rows gone');
    assert.equal(await objects.stat(`${documentObjectPrefix(docId)}cover.png`), null, 'objects gone');
    assert.equal((await call('GET', docUrl(id, '/metadata'), { as: users.owner })).status, 404);
    assert.equal((await call('GET', docUrl(id), { as: users.editor })).status, 404);
    const reuse = await call('POST', '/v1/docs', { as: users.owner, body: { id, title: 'again' } });
    assert.equal(reuse.status, 409);
    // A late update straight to the actor is refused: nothing can recreate the log.
    const late = new Y.Doc();
    late.getText('t').insert(0, 'zombie');
    await assert.rejects(client.request('doc', docId, 'update', Y.encodeStateAsUpdate(late)), (err: Error & { code?: string }) => err.code === 'not-found');
    late.destroy();
    assert.equal(await provisioned.jsm.streams.getMessage(DOC_LOG_STREAM, { last_by_subj: docLogSubject(docId) }), null);
    assert.equal((await call('DELETE', docUrl(id), { as: users.owner })).status, 204, 'repeating a delete is harmless for the owner');
    assert.equal((await call('DELETE', docUrl(id), { as: users.editor })).status, 404);

    const audit = await call('GET', `/v1/audit?targetType=doc&targetId=${encodeURIComponent(id)}`, { as: users.owner });
    assert.equal(audit.status, 200);
    const actions = (audit.body as { entries: { action: string }[] }).entries.map((e) => e.action);
    assert.ok(actions.includes('doc.delete') && actions.includes('doc.share') && actions.includes('doc.create'), actions.join());
  });
});

describe('/openapi.json', () => {
  it('documents every documents route', async () => {
    const doc = (await call('GET', '/openapi.json')).body as { paths: Record<string, Record<string, unknown>> };
    const expected: Array<[string, string]> = [
      ['/v1/docs', 'post'],
      ['/v1/docs', 'get'],
      ['/v1/docs/{id}', 'get'],
      ['/v1/docs/{id}', 'patch'],
      ['/v1/docs/{id}', 'delete'],
      ['/v1/docs/{id}/metadata', 'get'],
      ['/v1/docs/{id}/export', 'get'],
      ['/v1/docs/{id}/members', 'get'],
      ['/v1/docs/{id}/members', 'post'],
      ['/v1/docs/{id}/members/{userId}', 'put'],
      ['/v1/docs/{id}/members/{userId}', 'delete'],
      ['/v1/docs/{id}/snapshots', 'get'],
      ['/v1/docs/{id}/snapshots/{seq}/restore', 'post'],
    ];
    for (const [p, m] of expected) assert.ok(doc.paths[p]?.[m] !== undefined, `${m.toUpperCase()} ${p} in /openapi.json`);
  });
});
