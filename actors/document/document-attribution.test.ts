/**
 * Attribution and revert through the document actor, against a real
 * JetStream log (harness nats-server) and a PGlite snapshot store: updates
 * carry Loom-Author, the `attribution` command reports spans, and what it
 * reports survives compaction (snapshot + truncated log), passivation and a
 * fresh activation; `revert` appends one update whose attribution replays
 * too, and the snapshot it names undoes it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import * as Y from 'yjs';
import type { ActorContext, ActorInstance, CommandMessage } from '../actor.ts';
import { type AttributionReply, attributionReplySchema, decodeSyncReply, type RevertReply, revertReplySchema, restoreReplySchema } from '../../protocol/doc.ts';
import { HEADERS } from '../../protocol/headers.ts';
import { parseActorId, type DocId } from '../../protocol/ids.ts';
import { decodeJson, encodeJson, replyError, type WireMessage } from '../../protocol/reply.ts';
import { JetStreamDocumentLog } from '../../src/nats/jetstream-document-log.ts';
import { provisionNats } from '../../src/nats/provision.ts';
import { openDatabase, PostgresSnapshotStore, type Database } from '../../src/storage/index.ts';
import { startNatsServer, type NatsServerHandle } from '../../src/testing/index.ts';
import { documentActorDefinition } from './definition.ts';
import type { DocumentLimits } from './limits.ts';

const log = pino({ level: 'silent' });
// Snapshot every 3 appends, so the tests cross compaction (snapshot written, log truncated before it).
const limits: DocumentLimits = { maxUpdateBytes: 65_536, maxAppendBytes: 65_536, maxDocumentBytes: 1_000_000, snapshotEveryUpdates: 3, snapshotEveryBytes: 1_000_000 };
const ALICE = 'user:alice';
const JOB = 'job:job_writer';
let server: NatsServerHandle;
let nc: NatsConnection;
let database: Database;
let docLog: JetStreamDocumentLog;
let snapshots: PostgresSnapshotStore;

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  const nats = await provisionNats(nc, { leaseTtlMs: 5_000, logger: log });
  docLog = new JetStreamDocumentLog(nc, nats.jsm, { timeoutMs: 5_000, logger: log, docDebounceMs: 5_000 });
  database = await openDatabase({ logger: log });
  await database.migrate();
  snapshots = new PostgresSnapshotStore(database.db);
});
after(async () => {
  await nc.close();
  await database.close();
  await server.dispose();
});

function activate(id: DocId): Promise<ActorInstance> {
  const ctx: ActorContext = { kind: 'doc', id, log, signal: new AbortController().signal, publish: () => undefined, publishLocal: () => undefined, schedule: () => undefined };
  return documentActorDefinition({ log: docLog, snapshots, limits }).activate(ctx);
}

async function send(actor: ActorInstance, name: string, body: Uint8Array = new Uint8Array(0), headers: Record<string, string> = {}): Promise<WireMessage> {
  let reply: WireMessage | undefined;
  const command: CommandMessage = { source: 'command', name, body, headers, expectsReply: true, respond: (r) => void (reply ??= r) };
  await actor.handle([command]);
  assert.ok(reply, `${name} was answered`);
  return reply;
}

async function attribution(actor: ActorInstance): Promise<AttributionReply> {
  const reply = await send(actor, 'attribution');
  assert.equal(replyError(reply), null);
  return decodeJson(reply.body, attributionReplySchema, 'attribution');
}

/** A client whose edits are sent as one author. */
function writer(author: string) {
  const doc = new Y.Doc();
  return {
    doc,
    async edit(actor: ActorInstance, change: (t: Y.Text) => void): Promise<void> {
      const before = Y.encodeStateVector(doc);
      change(doc.getText('t'));
      const reply = await send(actor, 'update', Y.encodeStateAsUpdate(doc, before), { [HEADERS.author]: author });
      assert.equal(replyError(reply), null);
    },
    async catchUp(actor: ActorInstance): Promise<void> {
      const reply = await send(actor, 'sync', Y.encodeStateVector(doc));
      Y.applyUpdate(doc, decodeSyncReply(reply.body).update);
    },
  };
}

test('attribution survives compaction, passivation and a fresh activation; a revert replays from the log and is undone by its snapshot', async () => {
  const id = parseActorId(`attr-${randomUUID()}`);
  const alice = writer(ALICE);
  const job = writer(JOB);
  let actor = await activate(id);
  await alice.edit(actor, (t) => t.insert(0, 'Intro by Alice. Old claim. '));
  await job.catchUp(actor);
  await job.edit(actor, (t) => t.delete(16, 11));
  await job.edit(actor, (t) => t.insert(t.length, 'Generated text.'));
  await alice.catchUp(actor);
  await alice.edit(actor, (t) => t.insert(t.length, ' Outro.'));
  const expected = [
    { text: 'Intro by Alice. ', author: ALICE },
    { text: 'Generated text.', author: JOB },
    { text: ' Outro.', author: ALICE },
  ];
  assert.deepEqual((await attribution(actor)).roots.t?.spans, expected);
  assert.ok((await snapshots.list(id)).length > 0, 'compaction wrote a snapshot');
  await actor.onPassivate();
  actor.dispose();

  actor = await activate(id);
  assert.deepEqual((await attribution(actor)).roots.t?.spans, expected, 'same attribution after passivation');
  const reverted = decodeJson((await send(actor, 'revert', encodeJson({ origin: JOB }), { [HEADERS.author]: 'user:bob' })).body, revertReplySchema, 'revert');
  assert.deepEqual({ changed: reverted.changed, removed: reverted.removed, restored: reverted.restored }, { changed: true, removed: 15, restored: 11 });
  assert.ok(reverted.undoSeq !== null);
  const afterRevert = [{ text: 'Intro by Alice. Old claim.  Outro.', author: ALICE }];
  assert.deepEqual((await attribution(actor)).roots.t?.spans, afterRevert);
  // No passivation: the next activation rebuilds from the snapshot and the revert's log entry.
  actor.dispose();

  actor = await activate(id);
  assert.deepEqual((await attribution(actor)).roots.t?.spans, afterRevert, 'the revert entry replays with its attribution');
  const again = decodeJson((await send(actor, 'revert', encodeJson({ origin: JOB }))).body, revertReplySchema, 'revert');
  assert.equal(again.changed, false, 'nothing left to revert');
  const undo = decodeJson((await send(actor, 'restore', encodeJson({ seq: reverted.undoSeq }))).body, restoreReplySchema, 'restore');
  assert.equal(undo.changed, true);
  const text = (await attribution(actor)).roots.t?.spans.map((s) => s.text).join('');
  assert.equal(text, 'Intro by Alice. Generated text. Outro.', 'restoring undoSeq undoes the revert');
  actor.dispose();
});

test('bad authors and bad origins are refused naming what is wrong, and nothing is applied', async () => {
  const id = parseActorId(`attr-bad-${randomUUID()}`);
  const actor = await activate(id);
  const doc = new Y.Doc();
  doc.getText('t').insert(0, 'x');
  const refused = await send(actor, 'update', Y.encodeStateAsUpdate(doc), { [HEADERS.author]: 'robot:1' });
  assert.equal(replyError(refused)?.code, 'malformed-message');
  assert.match(replyError(refused)!.message, /user:<id>, job:<id> or agent:<id>/);
  assert.deepEqual((await attribution(actor)).roots, {});
  for (const body of [{ origin: 'user:alice' }, { origin: 'job:' }, {}, { origin: JOB, extra: 1 }]) {
    const reply = await send(actor, 'revert', encodeJson(body));
    assert.equal(replyError(reply)?.code, 'malformed-message', JSON.stringify(body));
  }
  const nothing: RevertReply = decodeJson((await send(actor, 'revert', encodeJson({ origin: 'agent:none' }))).body, revertReplySchema, 'revert');
  assert.deepEqual(nothing, { seq: 0, origin: 'agent:none', changed: false, removed: 0, restored: 0, undoSeq: null });
  actor.dispose();
});

test('updates of several authors merged into one log entry keep each author through replay', async () => {
  const id = parseActorId(`attr-mixed-${randomUUID()}`);
  let actor = await activate(id);
  const replies: WireMessage[] = [];
  const command = (author: string, text: string): CommandMessage => {
    const doc = new Y.Doc();
    doc.getText('t').insert(0, text);
    return { source: 'command', name: 'update', body: Y.encodeStateAsUpdate(doc), headers: { [HEADERS.author]: author }, expectsReply: true, respond: (r) => void replies.push(r) };
  };
  // One mailbox batch: both updates are merged into one append.
  await actor.handle([command(ALICE, 'by alice'), command(JOB, 'by the job'), command('agent:a1', 'by an agent')]);
  assert.equal(new Set(replies.map((r) => r.headers[HEADERS.seq])).size, 1, 'one log entry');
  const authorsOf = (reply: AttributionReply) => Object.fromEntries((reply.roots.t?.spans ?? []).map((s) => [s.text, s.author]));
  const live = authorsOf(await attribution(actor));
  assert.deepEqual(live, { 'by alice': ALICE, 'by the job': JOB, 'by an agent': 'agent:a1' });
  actor.dispose();
  actor = await activate(id);
  assert.deepEqual(authorsOf(await attribution(actor)), live, 'the entry replays with every author');
  actor.dispose();
});
