/**
 * An internal service talks to documents over NATS the way PROTOCOL.md says,
 * with a plain nats.js connection and no Loom code but the Yjs codecs: it
 * activates a document, applies updates, reads it back, follows its update
 * events, and gets an error reply (Loom-Error header, JSON {code, message})
 * for every bad input while the actor keeps serving. Subjects are written out
 * literally here on purpose: this file pins the documented contract, not the
 * builders in protocol/subjects.ts.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { headers as natsHeaders, RequestError, type Msg, type MsgHdrs } from '@nats-io/transport-node';
import * as encoding from 'lib0/encoding';
import * as Y from 'yjs';
import { decodeSyncReply } from '../../protocol/doc.ts';
import { updateEventSeqs } from '../../protocol/headers.ts';
import { idToToken, parseActorId } from '../../protocol/ids.ts';
import { connectCollabClient, waitFor, type CollabClient } from '../testing/index.ts';
import { startCluster, uniqueDocName, type ClusterFixture } from './cluster-fixture.ts';

const TIMEOUT_MS = 5_000;

let cluster: ClusterFixture;
const clients: CollabClient[] = [];

before(async () => {
  cluster = await startCluster({ hosts: 2, gateways: 1 });
});
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
});
after(async () => {
  await cluster.stop();
});

const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));

function isNoResponders(err: unknown): boolean {
  return err instanceof RequestError && err.isNoResponders();
}

/** A fresh client's Yjs update inserting `text` at the start of root `t`. */
function textUpdate(text: string, root = 't'): Uint8Array {
  const doc = new Y.Doc();
  doc.getText(root).insert(0, text);
  const update = Y.encodeStateAsUpdate(doc);
  doc.destroy();
  return update;
}

/** An update event's log sequence, whoever announced it (PROTOCOL.md §6: the log stream, or the actor on an older stream). */
function eventSeq(m: Msg): number {
  const h = m.headers;
  return Number(h === undefined ? undefined : updateEventSeqs(h).seq);
}

async function request(subject: string, body: Uint8Array, headers?: MsgHdrs): Promise<Msg> {
  return cluster.nc.request(subject, body, { timeout: TIMEOUT_MS, ...(headers ? { headers } : {}) });
}

/** `sys.activate.doc` with `{"id": rawId}`; asserts the documented success reply. */
async function activate(rawId: string): Promise<void> {
  const reply = await request('sys.activate.doc', json({ id: rawId }));
  assert.equal(reply.headers?.get('Loom-Error') ?? '', '', `activation refused: ${reply.string()}`);
  assert.deepEqual(reply.json(), { status: 'active' });
}

/**
 * What an internal service does for every command: send it; on "no
 * responders" (the document is not active anywhere) activate it and retry;
 * on a retryable error code (the actor is moving or busy) retry after a short
 * backoff. Bounded: a few attempts, then the last reply is returned.
 */
async function command(token: string, rawId: string, name: string, body: Uint8Array, headers?: MsgHdrs): Promise<Msg> {
  const retryable = new Set(['not-owner', 'mailbox-full', 'unavailable']);
  let last: Msg | undefined;
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      last = await request(`actor.doc.${token}.${name}`, body, headers);
      if (!retryable.has(last.headers?.get('Loom-Error') ?? '')) return last;
    } catch (err) {
      if (!isNoResponders(err)) throw err;
      await activate(rawId);
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, 25 * (attempt + 1)));
  }
  assert.ok(last, `no reply to ${name}`);
  return last;
}

/** Asserts a success reply to `update` and returns its sequence. */
function ackSeq(reply: Msg): number {
  assert.equal(reply.headers?.get('Loom-Error') ?? '', '', `update refused: ${reply.string()}`);
  const { seq } = reply.json<{ seq: number }>();
  assert.ok(Number.isInteger(seq) && seq > 0, `seq ${seq}`);
  assert.equal(reply.headers?.get('Loom-Seq'), String(seq));
  return seq;
}

function assertErrorReply(reply: Msg, code: string, message: RegExp): void {
  assert.equal(reply.headers?.get('Loom-Error'), code, `expected ${code}, got headers ${JSON.stringify(reply.headers?.get('Loom-Error'))} body ${reply.string()}`);
  const body = reply.json<{ code: unknown; message: unknown }>();
  assert.equal(body.code, code);
  assert.equal(typeof body.message, 'string');
  assert.match(body.message as string, message);
}

interface Content {
  id: string;
  seq: number;
  text: string | null;
  roots: Record<string, { type: string; value: unknown }>;
}

test('a plain NATS client activates a document, applies an update and reads it back through sync and content', async () => {
  const id = uniqueDocName('internal');
  // A plain id is its own token.
  const update = textUpdate('written by an internal service');

  // (a) The document is not active anywhere yet: nobody answers its command subject.
  await assert.rejects(request(`actor.doc.${id}.update`, update), (err: unknown) => isNoResponders(err));
  await activate(id);
  const seq = ackSeq(await request(`actor.doc.${id}.update`, update));

  // (b) sync with an empty body: the whole document as one update.
  const syncReply = await request(`actor.doc.${id}.sync`, new Uint8Array(0));
  assert.equal(syncReply.headers?.get('Loom-Error') ?? '', '');
  const sync = decodeSyncReply(syncReply.data);
  const copy = new Y.Doc();
  Y.applyUpdate(copy, sync.update);
  assert.equal(copy.getText('t').toString(), 'written by an internal service');
  assert.deepEqual(sync.stateVector, Y.encodeStateVector(copy));

  // ...and with a state vector: only what the caller lacks (here nothing).
  const delta = decodeSyncReply((await request(`actor.doc.${id}.sync`, Y.encodeStateVector(copy))).data);
  const copy2 = new Y.Doc();
  Y.applyUpdate(copy2, delta.update);
  assert.equal(copy2.getText('t').toString(), '');

  // (c) content: JSON with the text and the sequence it reflects.
  const content = (await request(`actor.doc.${id}.content`, new Uint8Array(0))).json<Content>();
  assert.equal(content.id, id);
  assert.equal(content.seq, seq);
  assert.equal(content.text, 'written by an internal service');
  assert.deepEqual(content.roots, { t: { type: 'text', value: 'written by an internal service' } });
});

test('an internal service follows a document on its update events and its own updates reach y-websocket clients', async () => {
  const id = uniqueDocName('follow');
  const seen: Msg[] = [];
  const sub = cluster.nc.subscribe(`event.doc.${id}.update`);
  const pump = (async () => {
    for await (const m of sub) seen.push(m);
  })();
  await cluster.nc.flush();

  // (d) A y-websocket client edits; the service rebuilds the document from events alone.
  const editor = connectCollabClient(cluster.gateways[0]!.wsUrl, id);
  clients.push(editor);
  await editor.synced();
  for (let i = 0; i < 5; i++) editor.doc.getText('t').insert(editor.doc.getText('t').length, `edit ${i};`);
  const follower = new Y.Doc();
  let applied = 0;
  await waitFor(
    () => {
      for (; applied < seen.length; applied++) Y.applyUpdate(follower, seen[applied]!.data);
      return follower.getText('t').toString() === editor.doc.getText('t').toString() && follower.getText('t').length > 0;
    },
    { what: 'the follower to rebuild the editor text from update events' },
  );
  assert.equal(follower.getText('t').toString(), 'edit 0;edit 1;edit 2;edit 3;edit 4;');
  const seqs = seen.map(eventSeq);
  assert.ok(seqs.every((s) => Number.isInteger(s) && s > 0), `a log sequence on every event: ${seqs.join(',')}`);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'events arrive in log order');

  // (e) The service applies an update; the connected editor sees it live.
  const before = seen.length;
  const seq = ackSeq(await command(id, id, 'update', textUpdate('from the service;')));
  await waitFor(() => editor.doc.getText('t').toString().includes('from the service;'), { what: 'the editor to see the service update' });
  // The service's own update is published too, with the seq it was acknowledged with.
  await waitFor(() => seen.slice(before).some((m) => eventSeq(m) === seq), { what: 'the event of the service update' });
  // A client that joins later gets it in its first sync.
  const late = connectCollabClient(cluster.gateways[0]!.wsUrl, id);
  clients.push(late);
  await late.synced();
  assert.equal(late.doc.getText('t').toString(), editor.doc.getText('t').toString());
  assert.equal(editor.disconnects(), 0);

  sub.unsubscribe();
  await pump;
});

test('an id that is not a plain token travels as its "=" encoded token on every subject', async () => {
  const rawId = `reports/2026:${uniqueDocName('q1')}.md`;
  const token = idToToken(parseActorId(rawId));
  assert.ok(token.startsWith('='), `token ${token}`);
  assert.ok(!/[.*>\s/:]/.test(token), `token ${token} is one subject token`);

  await assert.rejects(request(`actor.doc.${token}.update`, textUpdate('quarterly report')), (err: unknown) => isNoResponders(err));
  // Activation names the document by its id, not its token.
  await activate(rawId);
  const seq = ackSeq(await request(`actor.doc.${token}.update`, textUpdate('quarterly report')));
  const content = (await request(`actor.doc.${token}.content`, new Uint8Array(0))).json<Content>();
  assert.deepEqual({ id: content.id, seq: content.seq, text: content.text }, { id: rawId, seq, text: 'quarterly report' });

  // Editors use the raw room name; they reach the same document.
  const editor = connectCollabClient(cluster.gateways[0]!.wsUrl, rawId);
  clients.push(editor);
  await editor.synced();
  assert.equal(editor.doc.getText('t').toString(), 'quarterly report');
  const res = await fetch(`${cluster.gateways[0]!.httpUrl}/v1/docs/${encodeURIComponent(rawId)}?format=text`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'quarterly report');
});

test('bad NATS input gets an error reply with its code and the actor keeps serving', async () => {
  const id = uniqueDocName('bad-nats');
  const firstSeq = ackSeq(await command(id, id, 'update', textUpdate('kept;')));
  // Every update the actor appends is published; nothing refused below may show up here.
  const events: Msg[] = [];
  const sub = cluster.nc.subscribe(`event.doc.${id}.update`);
  const pump = (async () => {
    for await (const m of sub) events.push(m);
  })();
  await cluster.nc.flush();

  const garbage = Uint8Array.of(1, 1, 0xde, 0xad, 0xbe, 0xef, 0x42, 0x13, 0x37, 0x99, 0x01, 0x7f, 0x00, 0xc3);
  assertErrorReply(await request(`actor.doc.${id}.update`, garbage), 'invalid-update', /not a valid Yjs update/);

  const e = encoding.createEncoder();
  encoding.writeVarUint(e, 1);
  encoding.writeVarUint(e, 7);
  encoding.writeVarUint(e, 1);
  encoding.writeVarString(e, '{not json');
  const awarenessHeaders = natsHeaders();
  awarenessHeaders.set('Loom-Origin', 'service-1');
  assertErrorReply(await request(`actor.doc.${id}.awareness`, encoding.toUint8Array(e), awarenessHeaders), 'malformed-message', /awareness/);
  assertErrorReply(await request(`actor.doc.${id}.awareness`, Uint8Array.of(5)), 'malformed-message', /awareness/);

  assertErrorReply(await request(`actor.doc.${id}.explode`, new Uint8Array(0)), 'invalid-subject', /explode/);
  // A command token that is not even a valid command name still gets a coded reply.
  assertErrorReply(await request(`actor.doc.${id}.EXPLODE`, new Uint8Array(0)), 'invalid-subject', /EXPLODE/);

  const v99 = natsHeaders();
  v99.set('Loom-Version', '99');
  assertErrorReply(await request(`actor.doc.${id}.update`, textUpdate('never;'), v99), 'unsupported-version', /99/);

  const badOrigin = natsHeaders();
  badOrigin.set('Loom-Origin', 'not an origin!');
  assertErrorReply(await request(`actor.doc.${id}.update`, textUpdate('never;'), badOrigin), 'malformed-message', /Loom-Origin/);

  assertErrorReply(await request(`actor.doc.${id}.sync`, new TextEncoder().encode('not a state vector')), 'malformed-message', /state vector/);

  for (const body of [new TextEncoder().encode('not json'), json({ id: 42 }), json({ id: '' }), json({ id, extra: true }), json([id])]) {
    assertErrorReply(await request('sys.activate.doc', body), 'malformed-message', /activate request/);
  }
  assertErrorReply(await request('sys.activate.doc', json({ id: `bad\u0001${id}` })), 'invalid-id', /control characters/);
  assertErrorReply(await request('sys.activate.doc', json({ id: 'x'.repeat(201) })), 'invalid-id', /longer than 200 bytes/);

  // The actor is still there and still sound: a valid update lands right after the first.
  const seq = ackSeq(await request(`actor.doc.${id}.update`, textUpdate('still serving;')));
  assert.ok(seq > firstSeq);
  await waitFor(() => events.some((m) => eventSeq(m) === seq), { what: 'the event of the last update' });
  sub.unsubscribe();
  await pump;
  assert.deepEqual(events.map(eventSeq), [seq], 'no refused input was appended and published');
  const content = (await request(`actor.doc.${id}.content`, new Uint8Array(0))).json<Content>();
  assert.equal(content.seq, seq);
  const text = content.text ?? '';
  assert.ok(text.includes('kept;') && text.includes('still serving;'), `text ${text}`);
  assert.ok(!text.includes('never;'), 'refused updates never reached the document');
  assert.deepEqual(Object.keys(content.roots), ['t']);
});

/** See bad-input.test.ts: decodes, then corrupts the Y.Doc it is applied to. */
const DECODES_BUT_FAILS_TO_APPLY = Uint8Array.from(
  Buffer.from('010501000101017400840101016c840102086c6f20776f726c642801016d016b0177017600010201030358595a0101010002', 'hex'),
);

test(
  'an update that decodes but fails to apply is refused and every later update is still made durable',
  async () => {
    const id = uniqueDocName('half-applied');
    const firstSeq = ackSeq(await command(id, id, 'update', textUpdate('kept;')));
    assertErrorReply(await request(`actor.doc.${id}.update`, DECODES_BUT_FAILS_TO_APPLY), 'invalid-update', /not a valid Yjs update/);
    // An acknowledged update must be appended: its seq is new.
    // The actor rebuilds itself from durable state; a client following the documented retry rules gets through.
    const seq = ackSeq(await command(id, id, 'update', textUpdate('after;')));
    assert.ok(seq > firstSeq, `acknowledged with seq ${seq} although the document was already at ${firstSeq}: never appended`);
    const content = await command(id, id, 'content', new Uint8Array(0));
    assert.equal(content.headers?.get('Loom-Error') ?? '', '', `content: ${content.string()}`);
    const sync = decodeSyncReply((await command(id, id, 'sync', new Uint8Array(0))).data);
    const copy = new Y.Doc();
    assert.doesNotThrow(() => Y.applyUpdate(copy, sync.update), 'the sync reply applies on a fresh client');
    assert.equal(copy.getText('t').toString(), content.json<Content>().text);
  },
);
