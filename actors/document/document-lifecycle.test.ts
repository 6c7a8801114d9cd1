/**
 * Restore and delete on the document actor, against a real JetStream log
 * (harness nats-server) and an in-memory PGlite snapshot store, driven
 * through its mailbox interface.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import * as Y from 'yjs';
import type { ActorContext, ActorInstance, CommandMessage } from '../actor.ts';
import { type DocContent, restoreReplySchema } from '../../protocol/doc.ts';
import { parseActorId, type DocId } from '../../protocol/ids.ts';
import { decodeJson, encodeJson, replyError, type WireMessage } from '../../protocol/reply.ts';
import { JetStreamDocumentLog } from '../../src/nats/jetstream-document-log.ts';
import { provisionNats } from '../../src/nats/provision.ts';
import { openDatabase, PostgresSnapshotStore, type Database } from '../../src/storage/index.ts';
import { startNatsServer, type NatsServerHandle } from '../../src/testing/index.ts';
import { documentActorDefinition } from './definition.ts';
import type { DocumentLimits } from './limits.ts';

const log = pino({ level: 'silent' });
const limits: DocumentLimits = { maxUpdateBytes: 65_536, maxAppendBytes: 65_536, maxDocumentBytes: 1_000_000, snapshotEveryUpdates: 1_000, snapshotEveryBytes: 1_000_000 };
let server: NatsServerHandle;
let nc: NatsConnection;
let database: Database;
let docLog: JetStreamDocumentLog;
let snapshots: PostgresSnapshotStore;
const deleted = new Set<string>();
const published: { event: string; body: Uint8Array }[] = [];

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
  const ctx: ActorContext = {
    kind: 'doc',
    id,
    log,
    signal: new AbortController().signal,
    publish: (event, body) => published.push({ event, body }),
    publishLocal: () => undefined,
    schedule: () => undefined,
  };
  const directory = { isDeleted: (d: DocId) => Promise.resolve(deleted.has(d)), isRegistered: () => Promise.resolve(true) };
  return documentActorDefinition({ log: docLog, snapshots, directory, limits }).activate(ctx);
}

async function send(actor: ActorInstance, name: string, body: Uint8Array = new Uint8Array(0)): Promise<WireMessage> {
  let reply: WireMessage | undefined;
  const command: CommandMessage = {
    source: 'command',
    name,
    body,
    headers: {},
    expectsReply: true,
    respond(r) {
      reply ??= r;
    },
  };
  await actor.handle([command]);
  assert.ok(reply, `${name} was answered`);
  return reply;
}

async function content(actor: ActorInstance): Promise<DocContent> {
  const reply = await send(actor, 'content');
  assert.equal(replyError(reply), null);
  return JSON.parse(Buffer.from(reply.body).toString()) as DocContent;
}

test('restoring a snapshot appends one update that brings the content back, and the log replays to it', async () => {
  const id = parseActorId(`restore-${randomUUID()}`);
  const client = new Y.Doc();
  const updates: Uint8Array[] = [];
  client.on('update', (u: Uint8Array) => updates.push(u));
  let actor = await activate(id);
  client.getText('t').insert(0, 'version one');
  await send(actor, 'update', updates.pop());
  // Passivation writes the snapshot the restore will name.
  await actor.onPassivate();
  actor.dispose();
  const [snap] = await snapshots.list(id);
  assert.ok(snap);

  actor = await activate(id);
  client.getText('t').delete(0, 7);
  client.getText('t').insert(0, 'changed, ');
  client.getMap('later').set('k', 1);
  for (const u of updates.splice(0)) await send(actor, 'update', u);
  const before = published.length;
  const reply = await send(actor, 'restore', encodeJson({ seq: snap.seq }));
  const restored = decodeJson(reply.body, restoreReplySchema, 'restore reply');
  assert.equal(restored.changed, true);
  assert.equal(restored.restoredFrom, snap.seq);
  assert.equal(await docLog.lastSeq(id), restored.seq, 'the restore is one new log entry');
  const broadcast = published.slice(before).filter((p) => p.event === 'update');
  assert.equal(broadcast.length, 1, 'the restore is broadcast like an edit');
  Y.applyUpdate(client, broadcast[0]!.body);
  assert.equal(client.getText('t').toString(), 'version one');
  assert.equal(client.getMap('later').size, 0);
  assert.equal((await content(actor)).roots.t?.value, 'version one');

  const again = decodeJson((await send(actor, 'restore', encodeJson({ seq: snap.seq }))).body, restoreReplySchema, 'restore reply');
  assert.equal(again.changed, false, 'restoring an equal state changes nothing');
  assert.equal(replyError(await send(actor, 'restore', encodeJson({ seq: snap.seq + 1_000 })))?.code, 'not-found');
  assert.equal(replyError(await send(actor, 'restore', encodeJson({ seq: 'x' })))?.code, 'malformed-message');
  actor.dispose();

  // Another activation rebuilds the restored content from snapshot + log.
  actor = await activate(id);
  assert.equal((await content(actor)).roots.t?.value, 'version one');
  actor.dispose();
  client.destroy();
});

test('delete removes the log and snapshots, refuses later commands and never writes again', async () => {
  const id = parseActorId(`delete-${randomUUID()}`);
  const edit = new Y.Doc();
  edit.getText('t').insert(0, 'doomed');
  let actor = await activate(id);
  await send(actor, 'update', Y.encodeStateAsUpdate(edit));
  await actor.onPassivate();
  actor.dispose();
  actor = await activate(id);
  assert.ok((await docLog.lastSeq(id)) > 0);
  assert.ok((await snapshots.latest(id)) !== null);

  deleted.add(id); // what the HTTP side records before it sends `delete`
  assert.equal(replyError(await send(actor, 'delete')), null);
  assert.equal(await docLog.lastSeq(id), 0, 'log subject empty');
  assert.equal(await snapshots.latest(id), null, 'snapshots gone');
  for (const name of ['update', 'sync', 'content', 'restore']) {
    assert.equal(replyError(await send(actor, name, name === 'update' ? Y.encodeStateAsUpdate(edit) : new Uint8Array(0)))?.code, 'not-found', name);
  }
  await actor.onPassivate();
  actor.dispose();
  assert.equal(await snapshots.latest(id), null, 'passivation wrote no snapshot');

  // Activated again, it knows from the directory and still refuses; delete stays idempotent.
  actor = await activate(id);
  assert.equal(replyError(await send(actor, 'update', Y.encodeStateAsUpdate(edit)))?.code, 'not-found');
  assert.equal(replyError(await send(actor, 'delete')), null);
  assert.equal(await docLog.lastSeq(id), 0);
  actor.dispose();
  edit.destroy();
});
