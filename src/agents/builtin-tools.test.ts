/**
 * The built-in agent tools against real documents: a real nats-server and
 * PostgreSQL 15, Loom's actors and inference roles in this process (document
 * and job actors, an inference worker on the fake model server), and the
 * runner built as an actors host builds it. Every tool acts with the session
 * owner's rights: another user's document or upload is forbidden or not
 * found, a viewer cannot edit.
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
import type { ToolCallContext, ToolResult, ToolRunner } from '../../actors/agent/tool.ts';
import { attributionReplySchema } from '../../protocol/doc.ts';
import { jobViewSchema } from '../../protocol/job.ts';
import { parseActorId } from '../../protocol/ids.ts';
import { decodeJson } from '../../protocol/reply.ts';
import { API_SCOPES, createAuth } from '../auth/index.ts';
import { loadConfig, type Config } from '../config.ts';
import { scriptedAnswer, TEST_MODEL } from '../integration/jobs-fixture.ts';
import { ActorDocumentPort } from '../jobs/index.ts';
import { createRootLogger } from '../log.ts';
import { JetStreamJobLog } from '../nats/jetstream-job-log.ts';
import { provisionNats } from '../nats/provision.ts';
import { ActorClient } from '../placement/actor-client.ts';
import { startRoles, type RunningRoles } from '../roles/index.ts';
import { jobs, openDatabase, openObjectStore, PostgresDocumentRegistry, type Database, type ObjectStore } from '../storage/index.ts';
import { startFakeModelServer, startNatsServer, startPostgresServer, waitFor, type FakeModelServer, type NatsServerHandle, type PostgresServerHandle } from '../testing/index.ts';
import { UploadService } from '../uploads/index.ts';
import { clientIdForEdit, createAgentToolRunner } from './index.ts';

const log = createRootLogger({ level: 'silent', instanceId: 'agent-tools-test' });

let nats: NatsServerHandle;
let pg: PostgresServerHandle;
let model: FakeModelServer;
let nc: NatsConnection;
let database: Database;
let roles: RunningRoles;
let client: ActorClient;
let objects: ObjectStore;
let dataDir: string;
let config: Config;
let runner: ToolRunner;
let registry: PostgresDocumentRegistry;
const users = {} as Record<'owner' | 'viewer' | 'stranger', string>;
const VAST_TOPIC = 'Vast oceans';
const VAST_MARK = 'The vast section begins: ';
/** Model calls whose prompt names `topic` wait until `released` (a job kept running). */
let held: { topic: string; released: Promise<void> } | null = null;

before(async () => {
  [nats, pg, model, dataDir] = await Promise.all([
    startNatsServer(),
    startPostgresServer(),
    startFakeModelServer({
      respond: (request) => {
        const prompt = JSON.stringify(request.messages);
        if (held !== null && prompt.includes(held.topic)) return held.released.then(() => scriptedAnswer(request));
        // Sections of a "Vast" topic are long enough that the job's view cannot hold every copy of the text.
        if (prompt.includes(VAST_TOPIC) && prompt.includes('document.generate/section')) return `${VAST_MARK}${'v'.repeat(400_000)}`;
        return scriptedAnswer(request);
      },
    }),
    mkdtemp(path.join(tmpdir(), 'loom-agent-tools-')),
  ]);
  const databaseUrl = await pg.createDatabase();
  config = loadConfig({
    NATS_URL: nats.url,
    DATABASE_URL: databaseUrl,
    LOOM_ROLES: 'actors,inference',
    LOOM_DATA_DIR: dataDir,
    PORT: '0',
    LOOM_HOST: '127.0.0.1',
    LOOM_JWT_KEYS: `test:${'k'.repeat(40)}`,
    OPENAI_BASE_URL: model.baseURL,
    OPENAI_API_KEY: 'test',
    LOOM_DEFAULT_MODEL: TEST_MODEL,
    LOOM_INFERENCE_MODELS: TEST_MODEL,
    // A snapshot after every update: search sees each document's text at once.
    LOOM_DOC_SNAPSHOT_EVERY_UPDATES: '1',
    LOG_LEVEL: 'silent',
  });
  nc = await connect({ servers: nats.url });
  const provisioned = await provisionNats(nc, { leaseTtlMs: config.actors.leaseTtlMs, logger: log });
  database = await openDatabase({ url: databaseUrl, logger: log });
  await database.migrate();
  roles = await startRoles({ config, nc, nats: provisioned, database, log });
  client = new ActorClient(nc, { requestTimeoutMs: 10_000, deadlineMs: 20_000, log });
  objects = (await openObjectStore({ config: config.objects, dataDir: config.dataDir, publicBaseUrl: () => 'http://127.0.0.1' })).store;
  runner = createAgentToolRunner({
    nc,
    client,
    database,
    objects,
    jobLog: new JetStreamJobLog(nc, provisioned.jsm, { timeoutMs: 10_000, logger: log }),
    docAccess: 'members',
    uploadMaxBytes: 1024 * 1024,
    limits: { uploadReadMaxBytes: 64, jobTimeoutMs: 60_000 },
    log,
  });
  registry = new PostgresDocumentRegistry(database.db);
  const auth = await createAuth({ db: database.db, config, log, hasher: { memoryCostKiB: 1_024, timeCost: 1 } });
  for (const name of ['owner', 'viewer', 'stranger'] as const) {
    const { user } = await auth.accounts.register({ email: `${name}-${randomUUID()}@test.example`, password: 'correct horse battery' });
    users[name] = user.id;
  }
});

after(async () => {
  await roles?.stop();
  await nc?.close();
  await database?.close();
  await model?.close();
  await nats?.dispose();
  await pg?.dispose();
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
});

const ctx = (ownerId: string, extra: Partial<ToolCallContext> = {}): ToolCallContext => ({
  sessionId: `sess-${randomBytes(4).toString('hex')}`,
  ownerId,
  callId: `call-${randomBytes(4).toString('hex')}`,
  signal: new AbortController().signal,
  ...extra,
});

function content(result: ToolResult): string {
  assert.equal(result.ok, true, JSON.stringify(result));
  return result.ok ? result.content : '';
}

function failure(result: ToolResult): { code: string; error: string } {
  assert.equal(result.ok, false, JSON.stringify(result));
  return result.ok ? { code: '', error: '' } : { code: result.code, error: result.error };
}

/** A document of the owner with `text` in its `content` root, the viewer as a viewer. */
async function ownersDoc(title: string, text: string): Promise<string> {
  const id = parseActorId(`agent-doc-${randomBytes(5).toString('hex')}`);
  await registry.create({ id, title, ownerId: users.owner, at: new Date() });
  await registry.setMember(id, users.viewer, 'viewer', new Date());
  const doc = new Y.Doc();
  doc.getText('content').insert(0, text);
  await new ActorDocumentPort(client).update(id, Y.encodeStateAsUpdate(doc), AbortSignal.timeout(10_000));
  doc.destroy();
  return id;
}

describe('doc_read', () => {
  it("reads a document's text for its owner and a viewer, and as JSON", async () => {
    const id = await ownersDoc('Tides', 'The moon pulls the sea.');
    assert.equal(content(await runner.call('doc_read', { docId: id }, ctx(users.owner))), 'The moon pulls the sea.');
    assert.equal(content(await runner.call('doc_read', {}, ctx(users.viewer, { docId: id }))), 'The moon pulls the sea.');
    const json = JSON.parse(content(await runner.call('doc_read', { docId: id, format: 'json' }, ctx(users.owner)))) as { roots: unknown };
    assert.deepEqual(json.roots, { content: { type: 'text', value: 'The moon pulls the sea.' } });
  });

  it("refuses another user's document and one that does not exist", async () => {
    const id = await ownersDoc('Private', 'secret');
    assert.equal(failure(await runner.call('doc_read', { docId: id }, ctx(users.stranger))).code, 'forbidden');
    assert.equal(failure(await runner.call('doc_read', { docId: 'no-such-doc' }, ctx(users.owner))).code, 'not-found');
  });

  it('refuses arguments that fail the schema, naming the path', async () => {
    assert.deepEqual(failure(await runner.call('doc_read', { docId: 'x', format: 'html' }, ctx(users.owner))), {
      code: 'invalid-arguments',
      error: 'arguments/format: must be equal to one of the allowed values',
    });
    assert.equal(failure(await runner.call('doc_read', {}, ctx(users.owner))).code, 'invalid-arguments');
  });
});

describe('doc_edit', () => {
  it("writes into the live document as the session's own Yjs client", async () => {
    const id = await ownersDoc('Edits', 'Hello world');
    const c = ctx(users.owner, { docId: id });
    content(await runner.call('doc_edit', { op: 'append', text: '!' }, { ...c, callId: 'e1' }));
    content(await runner.call('doc_edit', { op: 'insert', at: 0, text: '>> ' }, { ...c, callId: 'e2' }));
    const replaced = JSON.parse(content(await runner.call('doc_edit', { op: 'replace', find: 'world', text: 'tides' }, { ...c, callId: 'e3' }))) as { deleted: number };
    assert.equal(replaced.deleted, 5);
    assert.equal(content(await runner.call('doc_read', {}, c)), '>> Hello tides!');
    // Each call writes as a client id of its own, derived from the session and the call.
    const doc = new Y.Doc();
    Y.applyUpdate(doc, await new ActorDocumentPort(client).sync(id, new Uint8Array(0), AbortSignal.timeout(10_000)));
    assert.ok(['e1', 'e2', 'e3'].every((callId) => Y.getState(doc.store, clientIdForEdit(c.sessionId, callId)) > 0));
    doc.destroy();
    // ...and the document actor attributes them to the session.
    const attribution = decodeJson((await client.request('doc', parseActorId(id), 'attribution', new Uint8Array(0))).body, attributionReplySchema, 'attribution');
    const spans = attribution.roots['content']?.spans ?? [];
    assert.deepEqual(
      spans.filter((span) => span.author === `agent:${c.sessionId}`).map((span) => span.text),
      ['>> ', 'tides!'],
    );
  });

  it('a call re-run after a crash finds its own earlier edit and does not write it again', async () => {
    const id = await ownersDoc('Retried', 'Tides');
    const c = ctx(users.owner, { docId: id, callId: 'call-retried' });
    const first = JSON.parse(content(await runner.call('doc_edit', { op: 'append', text: ' turn twice a day.' }, c))) as Record<string, unknown>;
    const again = JSON.parse(content(await runner.call('doc_edit', { op: 'append', text: ' turn twice a day.' }, c))) as Record<string, unknown>;
    assert.equal(content(await runner.call('doc_read', {}, c)), 'Tides turn twice a day.');
    assert.deepEqual([first['retried'], again['retried'], again['inserted'], again['length']], [undefined, true, 18, 23]);
    // Another call of the same session writes again.
    content(await runner.call('doc_edit', { op: 'append', text: '!' }, { ...c, callId: 'call-next' }));
    assert.equal(content(await runner.call('doc_read', {}, c)), 'Tides turn twice a day.!');
  });

  it('needs editor rights: a viewer and a stranger are refused, nothing is written', async () => {
    const id = await ownersDoc('Read only', 'unchanged');
    assert.equal(failure(await runner.call('doc_edit', { docId: id, op: 'append', text: 'x' }, ctx(users.viewer))).code, 'forbidden');
    assert.equal(failure(await runner.call('doc_edit', { docId: id, op: 'append', text: 'x' }, ctx(users.stranger))).code, 'forbidden');
    assert.equal(content(await runner.call('doc_read', { docId: id }, ctx(users.owner))), 'unchanged');
  });

  it('edits a rich-text (XML) root as paragraphs, as TipTap shows them; a root of another type than asked is refused', async () => {
    const id = parseActorId(`agent-doc-${randomBytes(5).toString('hex')}`);
    await registry.create({ id, title: 'Rich', ownerId: users.owner, at: new Date() });
    const doc = new Y.Doc();
    const paragraph = new Y.XmlElement('paragraph');
    paragraph.insert(0, [new Y.XmlText('rich text')]);
    doc.getXmlFragment('prosemirror').insert(0, [paragraph]);
    await new ActorDocumentPort(client).update(id, Y.encodeStateAsUpdate(doc), AbortSignal.timeout(10_000));
    doc.destroy();
    const c = ctx(users.owner, { docId: id });
    const appended = JSON.parse(content(await runner.call('doc_edit', { op: 'append', text: '.\nA second paragraph.' }, { ...c, callId: 'x1' }))) as Record<string, unknown>;
    assert.deepEqual([appended['root'], appended['rootType']], ['prosemirror', 'xml']);
    content(await runner.call('doc_edit', { op: 'replace', find: 'second', text: 'new' }, { ...c, callId: 'x2' }));
    assert.equal(content(await runner.call('doc_read', {}, c)), 'rich text.\nA new paragraph.');
    const roots = JSON.parse(content(await runner.call('doc_read', { format: 'json' }, c))) as { roots: Record<string, { value: string }> };
    assert.equal(roots.roots['prosemirror']?.value, '<paragraph>rich text.</paragraph><paragraph>A new paragraph.</paragraph>');
    const refused = failure(await runner.call('doc_edit', { op: 'append', text: 'x', rootType: 'text' }, { ...c, callId: 'x3' }));
    assert.deepEqual(refused, { code: 'failed', error: 'root "prosemirror" holds rich text (XML), not Y.Text; doc_edit writes text and paragraph roots only' });
  });

  it('reports missing text to replace, a position past the end and a missing position', async () => {
    const id = await ownersDoc('Short', 'abc');
    assert.equal(failure(await runner.call('doc_edit', { docId: id, op: 'replace', find: 'zzz', text: 'y' }, ctx(users.owner))).code, 'not-found');
    assert.equal(failure(await runner.call('doc_edit', { docId: id, op: 'insert', at: 99, text: 'y' }, ctx(users.owner))).code, 'invalid-arguments');
    assert.equal(failure(await runner.call('doc_edit', { docId: id, op: 'insert', text: 'y' }, ctx(users.owner))).code, 'invalid-arguments');
  });
});

describe('doc_search', () => {
  it("finds the owner's documents by title and text, never another user's", async () => {
    const word = `kelp${randomBytes(3).toString('hex')}`;
    const mine = await ownersDoc(`Forests of ${word}`, 'Under the sea.');
    const byText = await ownersDoc('Notes', `The ${word} sways in the current.`);
    const theirsId = parseActorId(`agent-doc-${randomBytes(5).toString('hex')}`);
    await registry.create({ id: theirsId, title: `Secret ${word}`, ownerId: users.stranger, at: new Date() });
    // Text is indexed when the document actor stores its snapshot, just after the update is acknowledged.
    const found = await waitFor(
      async () => {
        const r = JSON.parse(content(await runner.call('doc_search', { query: word }, ctx(users.owner)))) as { results: Array<{ docId: string; snippet: string }> };
        return r.results.length === 2 ? r : null;
      },
      { what: 'both documents to be found' },
    );
    assert.deepEqual(found.results.map((r) => r.docId).sort(), [mine, byText].sort());
    assert.match(found.results.find((r) => r.docId === byText)?.snippet ?? '', new RegExp(`«${word}»`));
    const theirs = JSON.parse(content(await runner.call('doc_search', { query: word }, ctx(users.stranger)))) as { results: Array<{ docId: string }> };
    assert.deepEqual(theirs.results.map((r) => r.docId), [theirsId]);
  });

  it('refuses an empty query and a limit out of range', async () => {
    assert.equal(failure(await runner.call('doc_search', { query: '' }, ctx(users.owner))).code, 'invalid-arguments');
    assert.equal(failure(await runner.call('doc_search', { query: 'x', limit: 1000 }, ctx(users.owner))).code, 'invalid-arguments');
  });
});

describe('upload_read', () => {
  const principal = (userId: string) => ({ kind: 'user' as const, userId, keyId: undefined, scopes: new Set(API_SCOPES) });

  async function upload(owner: string, contentType: string, body: string): Promise<string> {
    const uploads = new UploadService({ db: database.db, store: objects, maxBytes: 1024 * 1024 });
    const bytes = Buffer.from(body);
    const created = await uploads.create(principal(owner), { filename: 'notes.txt', contentType, size: bytes.length });
    await objects.put(created.objectKey, bytes, { contentType });
    return created.uploadId;
  }

  it("reads the owner's text upload, capped in bytes with a note", async () => {
    const short = await upload(users.owner, 'text/plain', 'tide tables');
    assert.equal(content(await runner.call('upload_read', { uploadId: short }, ctx(users.owner))), 'tide tables');
    const long = await upload(users.owner, 'text/markdown', 'x'.repeat(100));
    const text = content(await runner.call('upload_read', { uploadId: long }, ctx(users.owner)));
    assert.ok(text.startsWith('x'.repeat(64) + '\n[truncated'), text);
  });

  it("refuses another user's upload, an unknown one and a file that is not text", async () => {
    const theirs = await upload(users.stranger, 'text/plain', 'private');
    assert.equal(failure(await runner.call('upload_read', { uploadId: theirs }, ctx(users.owner))).code, 'not-found');
    assert.equal(failure(await runner.call('upload_read', { uploadId: randomUUID() }, ctx(users.owner))).code, 'not-found');
    const pdf = await upload(users.owner, 'application/pdf', '%PDF-1.4 fake');
    assert.equal(failure(await runner.call('upload_read', { uploadId: pdf }, ctx(users.owner))).code, 'failed');
  });
});

describe('job_start', () => {
  it("starts a job for the owner and returns its output once it ends", async () => {
    const result = JSON.parse(content(await runner.call('job_start', { kind: 'document.generate', input: { topic: 'Tides', sections: 1 } }, ctx(users.owner)))) as {
      status: string;
      output: unknown;
      jobId: string;
    };
    assert.equal(result.status, 'succeeded', JSON.stringify(result));
    assert.match(JSON.stringify(result.output), /written by the model/);
  });

  it("returns the job's output when its view had to leave it out", async () => {
    const text = content(await runner.call('job_start', { kind: 'document.generate', input: { topic: VAST_TOPIC, sections: 1 } }, ctx(users.owner)));
    const jobId = /"jobId":"([^"]+)"/.exec(text)?.[1];
    assert.ok(jobId !== undefined, text.slice(0, 200));
    // The case under test: the view that fits one message has no output.
    const view = decodeJson((await client.request('job', parseActorId(jobId), 'get', new Uint8Array(0))).body, jobViewSchema, 'job');
    assert.equal(view.status, 'succeeded');
    assert.deepEqual([view.output, view.outputOmitted], [null, true]);
    // The tool served it whole (and the runner cut it to the result cap): the text, not null.
    assert.match(text, new RegExp(`"output":\\{"title":"${VAST_TOPIC}".*${VAST_MARK}v{100}`));
  });

  it('starts one job for a retried call (same session and call id)', async () => {
    const c = ctx(users.owner);
    const first = JSON.parse(content(await runner.call('job_start', { kind: 'document.generate', input: { topic: 'Waves', sections: 1 } }, c))) as { jobId: string };
    const again = JSON.parse(content(await runner.call('job_start', { kind: 'document.generate', input: { topic: 'Waves', sections: 1 } }, c))) as { jobId: string };
    assert.equal(again.jobId, first.jobId);
  });

  it('cancels the job it started when the turn is cancelled', async () => {
    const topic = `Held ${randomBytes(3).toString('hex')}`;
    let release = () => undefined as void;
    held = { topic, released: new Promise<void>((resolve) => (release = resolve)) };
    after(release);
    const controller = new AbortController();
    const c = ctx(users.owner, { signal: controller.signal });
    const calling = runner.call('job_start', { kind: 'document.generate', input: { topic, sections: 1 } }, c);
    // The job's first model call is on its way: the job exists and runs.
    await waitFor(() => model.calls.some((call) => JSON.stringify(call.request.messages).includes(topic)), { what: 'the job to call the model' });
    controller.abort();
    assert.equal(failure(await calling).code, 'cancelled');
    await waitFor(
      async () => {
        const rows = await database.db.select({ status: jobs.status, input: jobs.input }).from(jobs).where(eq(jobs.ownerId, users.owner));
        return rows.some((r) => r.status === 'cancelled' && JSON.stringify(r.input).includes(topic));
      },
      { what: 'the job to be cancelled', timeoutMs: 20_000 },
    );
  });

  it("refuses a target document the owner cannot edit, an unknown kind and a bad input", async () => {
    const theirs = parseActorId(`agent-doc-${randomBytes(5).toString('hex')}`);
    await registry.create({ id: theirs, title: 'Not yours', ownerId: users.stranger, at: new Date() });
    assert.equal(failure(await runner.call('job_start', { kind: 'document.generate', input: { topic: 'x' }, targetDocId: theirs }, ctx(users.owner))).code, 'forbidden');
    assert.equal(failure(await runner.call('job_start', { kind: 'no.such-kind', input: {} }, ctx(users.owner))).code, 'invalid-arguments');
    assert.equal(failure(await runner.call('job_start', { kind: 'document.generate', input: { sections: 'many' } }, ctx(users.owner))).code, 'invalid-arguments');
  });
});
