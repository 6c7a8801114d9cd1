/**
 * The document actor against a real JetStream log (harness nats-server) and
 * an in-memory PGlite snapshot store, driven directly through its mailbox
 * interface: batching, duplicate suppression, limits, fencing, recovery.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import * as Y from 'yjs';
import type { ActorContext, CommandMessage, MailboxMessage } from '../actor.ts';
import { StepDownError } from '../actor.ts';
import { encodeAwarenessUpdate } from '../../protocol/awareness.ts';
import { HEADERS } from '../../protocol/headers.ts';
import { parseActorId } from '../../protocol/ids.ts';
import { replyError, type WireMessage } from '../../protocol/reply.ts';
import { JetStreamDocumentLog } from '../../src/nats/jetstream-document-log.ts';
import { provisionNats } from '../../src/nats/provision.ts';
import { openDatabase, PostgresSnapshotStore, type Database } from '../../src/storage/index.ts';
import { startNatsServer, type NatsServerHandle } from '../../src/testing/index.ts';
import { documentActorDefinition, type DocumentActorDeps } from './definition.ts';
import type { DocumentLimits } from './limits.ts';
import { POISONED_PREFIX_TEXT, POISONED_UPDATE } from '../../src/testing/poisoned-update.fixture.ts';

const log = pino({ level: 'silent' });
let server: NatsServerHandle;
let nc: NatsConnection;
let database: Database;
let docLog: JetStreamDocumentLog;
const published: { event: string; body: Uint8Array; headers: Record<string, string> }[] = [];

const limits: DocumentLimits = { maxUpdateBytes: 4_096, maxAppendBytes: 8_192, maxDocumentBytes: 16_384, snapshotEveryUpdates: 1_000, snapshotEveryBytes: 1_000_000 };

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  const nats = await provisionNats(nc, { leaseTtlMs: 5_000, logger: log });
  docLog = new JetStreamDocumentLog(nc, nats.jsm, { timeoutMs: 5_000, logger: log, docDebounceMs: 5_000 });
  database = await openDatabase({ logger: log });
  await database.migrate();
});
after(async () => {
  await nc.close();
  await database.close();
  await server.dispose();
});

function activate(id: string, overrides: Partial<DocumentLimits> = {}, deps: Partial<DocumentActorDeps> = {}) {
  const ctx: ActorContext = {
    kind: 'doc',
    id: parseActorId(id),
    log,
    signal: new AbortController().signal,
    publish: (event, body, headers) => published.push({ event, body, headers: { ...headers } }),
    publishLocal: () => undefined,
    schedule: () => undefined,
  };
  return documentActorDefinition({ log: docLog, snapshots: new PostgresSnapshotStore(database.db), limits: { ...limits, ...overrides }, ...deps }).activate(ctx);
}

function command(name: string, body: Uint8Array, headers: Record<string, string> = {}): CommandMessage & { reply: () => WireMessage } {
  let reply: WireMessage | undefined;
  return {
    source: 'command',
    name,
    body,
    headers,
    expectsReply: true,
    respond(r) {
      reply ??= r;
    },
    reply() {
      assert.ok(reply, `${name} was answered`);
      return reply;
    },
  };
}

function edit(text: string): Uint8Array {
  const d = new Y.Doc();
  d.getText('t').insert(0, text);
  return Y.encodeStateAsUpdate(d);
}

test('updates queued together become one log entry, published once and acknowledged with its seq', async () => {
  const id = `batch-${Date.now()}`;
  const actor = await activate(id);
  const before = published.length;
  const cmds = [command('update', edit('a'), { [HEADERS.origin]: 'c1' }), command('update', edit('b'), { [HEADERS.origin]: 'c1' })];
  await actor.handle(cmds);
  const seqs = cmds.map((c) => (JSON.parse(Buffer.from(c.reply().body).toString()) as { seq: number }).seq);
  assert.equal(seqs[0], seqs[1], 'one append for both');
  assert.equal(await docLog.lastSeq(parseActorId(id)), seqs[0]);
  const events = published.slice(before).filter((p) => p.event === 'update');
  assert.equal(events.length, 1);
  assert.equal(events[0]!.headers[HEADERS.origin], 'c1', 'single origin is named so its gateway skips the echo');
  actor.dispose();
});

test('update events chain by Loom-Prev-Seq, and after a NATS reconnect the actor publishes its head (lost events are detectable)', async () => {
  const id = `chain-${Date.now()}`;
  const actor = await activate(id);
  const before = published.length;
  await actor.handle([command('update', edit('a'))]);
  await actor.handle([command('update', edit('b'))]);
  await actor.handle([{ source: 'signal', name: 'events-may-be-lost' }]);
  const events = published.slice(before);
  const updates = events.filter((p) => p.event === 'update');
  assert.equal(updates.length, 2);
  assert.equal(updates[0]!.headers[HEADERS.prevSeq], '0', 'the first entry of a new document follows nothing');
  assert.equal(updates[1]!.headers[HEADERS.prevSeq], updates[0]!.headers[HEADERS.seq], 'each update names the entry before it');
  const heads = events.filter((p) => p.event === 'head');
  assert.equal(heads.length, 1);
  assert.equal(heads[0]!.headers[HEADERS.seq], updates[1]!.headers[HEADERS.seq], 'the head names the last entry');
  assert.equal(heads[0]!.body.length, 0);
  actor.dispose();
});

test('an update that changes nothing is acknowledged without an append', async () => {
  const id = `dup-${Date.now()}`;
  const actor = await activate(id);
  const u = edit('same');
  await actor.handle([command('update', u)]);
  const seq = await docLog.lastSeq(parseActorId(id));
  const again = command('update', u);
  await actor.handle([again]);
  assert.equal(replyError(again.reply()), null);
  assert.equal(await docLog.lastSeq(parseActorId(id)), seq, 'no new entry');
  actor.dispose();
});

test('garbage, oversized updates and a full document are refused with their codes and leave the document intact', async () => {
  const id = `limits-${Date.now()}`;
  const actor = await activate(id, { maxDocumentBytes: 2_048 });
  const garbage = command('update', new Uint8Array([1, 200, 3, 4, 5, 6, 7]));
  const huge = command('update', edit('x'.repeat(5_000)));
  const ok = command('update', edit('kept'));
  await actor.handle([garbage, huge, ok]);
  assert.equal(replyError(garbage.reply())?.code, 'invalid-update');
  assert.equal(replyError(huge.reply())?.code, 'update-too-large');
  assert.equal(replyError(ok.reply()), null);
  const fill: CommandMessage[] = [];
  for (let i = 0; i < 3; i++) fill.push(command('update', edit('y'.repeat(1_000))));
  await actor.handle(fill);
  assert.equal(replyError((fill[2] as ReturnType<typeof command>).reply())?.code, 'document-too-large');
  const content = command('content', new Uint8Array(0));
  await actor.handle([content]);
  const body = JSON.parse(Buffer.from(content.reply().body).toString()) as { roots: { t: { value: string } } };
  assert.ok(body.roots.t.value.includes('kept'));
  assert.ok(!body.roots.t.value.includes('x'));
  actor.dispose();
});

test('a stale owner is fenced out of the log and steps down; the new owner recovers everything', async () => {
  const id = `fence-${Date.now()}`;
  const stale = await activate(id);
  await stale.handle([command('update', edit('one'))]);
  // A second activation (as after a lease expiry) recovers and writes.
  const fresh = await activate(id);
  await fresh.handle([command('update', edit('two'))]);
  const late = command('update', edit('lost?'));
  await assert.rejects(stale.handle([late]), StepDownError);
  assert.equal(replyError(late.reply())?.code, 'not-owner', 'the sender is told to retry');
  const third = await activate(id);
  const content = command('content', new Uint8Array(0));
  await third.handle([content]);
  const text = (JSON.parse(Buffer.from(content.reply().body).toString()) as { roots: { t: { value: string } } }).roots.t.value;
  assert.ok(text.includes('one') && text.includes('two'));
  assert.ok(!text.includes('lost?'), 'the fenced write never became durable');
  for (const a of [stale, fresh, third]) a.dispose();
});

test('bad commands get error replies: unknown command, bad version, bad state vector, bad awareness', async () => {
  const actor = await activate(`bad-${Date.now()}`);
  const cases: [MailboxMessage & { reply: () => WireMessage }, string][] = [
    [command('explode', new Uint8Array(0)), 'invalid-subject'],
    [command('update', edit('v'), { [HEADERS.version]: '99' }), 'unsupported-version'],
    [command('sync', new Uint8Array([255, 255, 255])), 'malformed-message'],
    [command('awareness', new Uint8Array([1, 2])), 'malformed-message'],
  ];
  await actor.handle(cases.map(([c]) => c));
  for (const [c, code] of cases) assert.equal(replyError(c.reply())?.code, code);
  actor.dispose();
});

function text(actor: { handle(b: readonly MailboxMessage[]): Promise<void> }) {
  const content = command('content', new Uint8Array(0));
  return actor.handle([content]).then(() => (JSON.parse(Buffer.from(content.reply().body).toString()) as { roots: { t?: { value: string } } }).roots.t?.value ?? '');
}

test('a poisoned update is refused without touching the document: no step-down, no rebuild, its sender refused from then on (issue 12, item 4)', async () => {
  const id = `poison-${Date.now()}`;
  const actor = await activate(id);
  const before = command('update', edit('before '), { [HEADERS.origin]: 'good' });
  const poisoned = command('update', POISONED_UPDATE, { [HEADERS.origin]: 'bad' });
  const again = command('update', edit('more from bad'), { [HEADERS.origin]: 'bad' });
  const after = command('update', edit('after'), { [HEADERS.origin]: 'good' });
  // Before the fix this batch threw StepDownError and the document was rebuilt from its log.
  await actor.handle([before, poisoned, again, after]);
  assert.equal(replyError(poisoned.reply())?.code, 'invalid-update');
  assert.equal(replyError(again.reply())?.code, 'invalid-update', 'the offending connection is refused without another try');
  assert.equal(replyError(before.reply()), null);
  assert.equal(replyError(after.reply()), null);
  const live = await text(actor);
  assert.ok(live.includes('before') && live.includes('after'));
  assert.ok(!live.includes(POISONED_PREFIX_TEXT), 'the part Yjs integrated before throwing never reached the live document');
  // The same poison from another connection is refused again, and the document still takes edits.
  const second = command('update', POISONED_UPDATE, { [HEADERS.origin]: 'bad-2' });
  const later = command('update', edit('later'), { [HEADERS.origin]: 'good' });
  await actor.handle([second, later]);
  assert.equal(replyError(second.reply())?.code, 'invalid-update');
  assert.equal(replyError(later.reply()), null);
  // What a fresh activation rebuilds from the log is what the live document holds.
  const rebuilt = await activate(id);
  assert.equal(await text(rebuilt), await text(actor));
  for (const a of [actor, rebuilt]) a.dispose();
});

test('in members mode an unregistered id refuses updates with not-found until it is registered (issue 12, item 8)', async () => {
  const id = `unregistered-${Date.now()}`;
  const registered = new Set<string>();
  const directory = { isDeleted: () => Promise.resolve(false), isRegistered: (d: string) => Promise.resolve(registered.has(d)) };
  const actor = await activate(id, {}, { directory, requireRegistration: true });
  const planted = command('update', edit('planted'), { [HEADERS.origin]: 'internal-service' });
  await actor.handle([planted]);
  assert.equal(replyError(planted.reply())?.code, 'not-found');
  assert.equal(await docLog.lastSeq(parseActorId(id)), 0, 'nothing reached the log');
  registered.add(id);
  const owned = command('update', edit('owned'));
  await actor.handle([owned]);
  assert.equal(replyError(owned.reply()), null, 'registered while the actor was active: accepted');
  assert.equal(await text(actor), 'owned');
  // Open mode (no requireRegistration) writes any id, as before.
  const open = await activate(`open-${Date.now()}`, {}, { directory });
  const write = command('update', edit('x'));
  await open.handle([write]);
  assert.equal(replyError(write.reply()), null);
  for (const a of [actor, open]) a.dispose();
});

test('presence fans out only what its connection may set, and replies carrying presence stay within one message (issue 12, items 2 and 3)', async () => {
  const id = `presence-${Date.now()}`;
  const actor = await activate(id);
  const state = (clientId: number, clock: number, s: object | null) => encodeAwarenessUpdate([{ clientId, clock, state: s === null ? null : JSON.stringify(s) }]);
  const fanned = () => published.filter((p) => p.event === 'awareness').length;
  const start = fanned();
  const alice = command('awareness', state(1, 1, { name: 'alice' }), { [HEADERS.origin]: 'a', [HEADERS.gateway]: 'g' });
  const forged = command('awareness', state(1, 2, { name: 'mallory' }), { [HEADERS.origin]: 'm', [HEADERS.gateway]: 'g' });
  const echo = command('awareness', state(1, 1, { name: 'alice' }), { [HEADERS.origin]: 'b', [HEADERS.gateway]: 'g' });
  await actor.handle([alice, forged, echo]);
  for (const c of [alice, forged, echo]) assert.equal(replyError(c.reply()), null, 'forgeries and echoes are dropped, not refused');
  assert.equal(fanned() - start, 1, "only alice's own state fanned out");
  // Many connections' states up to the cap: sync and presence replies stay within one append.
  const fill: (CommandMessage & { reply: () => WireMessage })[] = [];
  for (let i = 0; i < 40; i++) fill.push(command('awareness', state(100 + i, 1, { blob: 'x'.repeat(1_000) }), { [HEADERS.origin]: `c${i}`, [HEADERS.gateway]: 'g' }));
  const sync = command('sync', new Uint8Array(0));
  const presence = command('presence', new Uint8Array(0));
  await actor.handle([...fill, sync, presence]);
  assert.ok(fill.some((c) => replyError(c.reply())?.code === 'presence-too-large'), 'the cap (a quarter of a message here) is reached');
  assert.ok(sync.reply().body.length <= limits.maxAppendBytes, `sync reply of ${sync.reply().body.length} bytes fits`);
  assert.ok(presence.reply().body.length <= limits.maxAppendBytes / 4 + 64);
  actor.dispose();
});
