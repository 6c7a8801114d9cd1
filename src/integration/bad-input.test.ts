/**
 * Every bad input gets its close code, and the server keeps serving everyone
 * else. Raw `ws` sockets send hand-built frames to one gateway while real
 * y-websocket clients sit on the same document through the other gateway:
 * after each refusal those clients are still connected, still converge with a
 * newcomer, and the document holds nothing the bad socket sent.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as encoding from 'lib0/encoding';
import { WebSocket } from 'ws';
import * as Y from 'yjs';
import { COLLAB_MESSAGE, encodeAwarenessFrame, encodeSyncStep1, encodeUpdateFrame, SYNC_STEP } from '../../protocol/collab.ts';
import { docContentSchema, type DocContent } from '../../protocol/doc.ts';
import { CLOSE_CODES } from '../../protocol/errors.ts';
import { MAX_ID_BYTES } from '../../protocol/ids.ts';
import { connectCollabClient, waitFor, type CollabClient } from '../testing/index.ts';
import { startCluster, uniqueDocName, type ClusterFixture } from './cluster-fixture.ts';

const MAX_FRAME_BYTES = 65_536;
const MAX_UPDATE_BYTES = 16_384;
const MAX_DOC_BYTES = 65_536;
const CLOSE_TIMEOUT_MS = 15_000;

/** The gateway bad sockets use; bystanders sit on the other one. */
const BAD_GW = 0;
const GOOD_GW = 1;

let cluster: ClusterFixture;
const clients: CollabClient[] = [];
const sockets: WebSocket[] = [];

before(async () => {
  cluster = await startCluster({
    hosts: 1,
    gateways: 2,
    env: {
      LOOM_WS_MAX_FRAME_BYTES: String(MAX_FRAME_BYTES),
      LOOM_DOC_MAX_UPDATE_BYTES: String(MAX_UPDATE_BYTES),
      LOOM_DOC_MAX_BYTES: String(MAX_DOC_BYTES),
    },
  });
});
// Each y-websocket provider holds a process 'exit' listener until destroyed.
afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of sockets.splice(0)) s.terminate();
});
after(async () => {
  await cluster.stop();
});

function client(gateway: number, room: string): CollabClient {
  const c = connectCollabClient(cluster.gateways[gateway]!.wsUrl, room);
  clients.push(c);
  return c;
}

interface CloseEvent {
  readonly code: number;
  readonly reason: string;
}

interface RawSocket {
  readonly ws: WebSocket;
  /** true once open; false when the socket closed without ever opening. */
  readonly opened: Promise<boolean>;
  readonly closed: Promise<CloseEvent>;
  /** The close event, once it happened. */
  closeEvent(): CloseEvent | undefined;
}

/** A plain `ws` socket on /collab/<path> (path already URL-encoded as needed). */
function rawSocket(gateway: number, path: string): RawSocket {
  const ws = new WebSocket(`${cluster.gateways[gateway]!.wsUrl}/collab/${path}`);
  sockets.push(ws);
  const errors: Error[] = [];
  // A socket closed by the server while it still sends may see ECONNRESET;
  // the close event below still tells how it ended, and the errors are kept for messages.
  ws.on('error', (err) => errors.push(err));
  let event: CloseEvent | undefined;
  const closed = new Promise<CloseEvent>((resolve) => {
    ws.once('close', (code, reason) => {
      event = { code, reason: reason.toString('utf8') };
      resolve(event);
    });
  });
  const opened = new Promise<boolean>((resolve) => {
    ws.once('open', () => resolve(true));
    ws.once('close', () => resolve(false));
  });
  return { ws, opened, closed, closeEvent: () => event };
}

/** Rejects when `promise` has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Opens a raw socket, sends `frames`, and returns how the server closed it. */
async function sendAndAwaitClose(gateway: number, path: string, frames: ReadonlyArray<Uint8Array | string>): Promise<CloseEvent> {
  const raw = rawSocket(gateway, path);
  assert.ok(await within(raw.opened, CLOSE_TIMEOUT_MS, 'raw socket open'), 'raw socket should open');
  for (const frame of frames) raw.ws.send(frame, { binary: typeof frame !== 'string' });
  return within(raw.closed, CLOSE_TIMEOUT_MS, `server closing the socket on ${path}`);
}

/** The server's copy of a document, over HTTP. */
async function serverContent(room: string): Promise<DocContent> {
  const res = await fetch(`${cluster.gateways[GOOD_GW]!.httpUrl}/v1/docs/${encodeURIComponent(room)}`);
  assert.equal(res.status, 200, `GET /v1/docs/${room}: ${res.status}`);
  return docContentSchema.parse(await res.json());
}

/** A valid Yjs update of a fresh client inserting `text` into root `root`. */
function textUpdate(root: string, text: string): Uint8Array {
  const doc = new Y.Doc();
  doc.getText(root).insert(0, text);
  const update = Y.encodeStateAsUpdate(doc);
  doc.destroy();
  return update;
}

/** A document with one y-websocket client on the good gateway and some content the server has made durable. */
async function documentWithBystander(prefix: string): Promise<{ room: string; bystander: CollabClient; before: DocContent }> {
  const room = uniqueDocName(prefix);
  const bystander = client(GOOD_GW, room);
  await bystander.synced();
  bystander.doc.getText('t').insert(0, 'before;');
  const before = await waitFor(
    async () => {
      const c = await serverContent(room);
      return c.roots.t?.value === 'before;' ? c : null;
    },
    { what: 'the bystander edit to be durable' },
  );
  return { room, bystander, before };
}

/**
 * The server keeps serving everyone else: the bystander never dropped, and a
 * newcomer on the gateway that refused the bad socket converges with it.
 */
async function assertStillServing(room: string, bystander: CollabClient): Promise<void> {
  assert.equal(bystander.disconnects(), 0, `bystander dropped: ${JSON.stringify(bystander.closes)}`);
  const newcomer = client(BAD_GW, room);
  await newcomer.synced();
  newcomer.doc.getText('t').insert(newcomer.doc.getText('t').length, 'newcomer;');
  bystander.doc.getText('t').insert(0, 'bystander;');
  await waitFor(
    () => {
      const a = bystander.doc.getText('t').toString();
      return a === newcomer.doc.getText('t').toString() && a.includes('newcomer;') && a.includes('bystander;') && a.includes('before;');
    },
    { what: 'bystander and newcomer converged', timeoutMs: 20_000 },
  );
  const text = bystander.doc.getText('t').toString();
  await waitFor(async () => (await serverContent(room)).roots.t?.value === text, { what: 'the server to hold the converged text' });
  assert.equal(bystander.disconnects(), 0, `bystander dropped: ${JSON.stringify(bystander.closes)}`);
  assert.equal(newcomer.disconnects(), 0, `newcomer dropped: ${JSON.stringify(newcomer.closes)}`);
}

function assertClosedWith(closed: CloseEvent, code: number, reason: RegExp): void {
  assert.equal(closed.code, code, `expected close ${code}, got ${closed.code} (${closed.reason})`);
  assert.match(closed.reason, reason);
}

test('a malformed frame is closed with 4400 and never reaches the document', async () => {
  const { room, bystander, before } = await documentWithBystander('malformed');
  const valid = encodeUpdateFrame(textUpdate('evil', 'x'));
  const cases: ReadonlyArray<{ name: string; frame: Uint8Array; reason: RegExp }> = [
    { name: 'empty frame', frame: new Uint8Array(0), reason: /empty frame/ },
    { name: 'truncated varint', frame: Uint8Array.of(0x80), reason: /truncated or malformed/ },
    // sync/update announcing 50 payload bytes but carrying 3
    { name: 'payload shorter than its length', frame: Uint8Array.of(COLLAB_MESSAGE.sync, SYNC_STEP.update, 50, 1, 2, 3), reason: /truncated or malformed/ },
    { name: 'trailing bytes', frame: Uint8Array.of(...valid, 0), reason: /trailing bytes/ },
  ];
  for (const c of cases) {
    const closed = await sendAndAwaitClose(BAD_GW, room, [c.frame]);
    assert.equal(closed.code, CLOSE_CODES.malformedFrame, `${c.name}: got ${closed.code} (${closed.reason})`);
    assert.match(closed.reason, c.reason, c.name);
  }
  assert.deepEqual(await serverContent(room), before, 'nothing reached the document');
  await assertStillServing(room, bystander);
});

test('an unknown message type or sync step is closed with 4415', async () => {
  const { room, bystander, before } = await documentWithBystander('unknown-type');
  assertClosedWith(await sendAndAwaitClose(BAD_GW, room, [Uint8Array.of(9, 0)]), CLOSE_CODES.unknownMessageType, /unknown message type 9/);
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, COLLAB_MESSAGE.sync);
  encoding.writeVarUint(e, 5);
  encoding.writeVarUint8Array(e, textUpdate('evil', 'x'));
  assertClosedWith(await sendAndAwaitClose(BAD_GW, room, [encoding.toUint8Array(e)]), CLOSE_CODES.unknownMessageType, /unknown sync step 5/);
  assert.deepEqual(await serverContent(room), before, 'nothing reached the document');
  await assertStillServing(room, bystander);
});

test('a text frame is closed with 1003', async () => {
  const { room, bystander, before } = await documentWithBystander('text-frame');
  assertClosedWith(await sendAndAwaitClose(BAD_GW, room, ['{"hello":"world"}']), CLOSE_CODES.unsupportedData, /text frames are not supported/);
  assert.deepEqual(await serverContent(room), before, 'nothing reached the document');
  await assertStillServing(room, bystander);
});

test('a document id that is too long, holds a control character or is badly escaped is closed with 4404', async () => {
  const { room, bystander, before } = await documentWithBystander('bad-id');
  const tooLong = 'x'.repeat(MAX_ID_BYTES + 1);
  assertClosedWith(await sendAndAwaitClose(BAD_GW, tooLong, [encodeSyncStep1(Y.encodeStateVector(new Y.Doc()))]), CLOSE_CODES.invalidDocId, /longer than 200 bytes/);
  // Multi-byte characters count in UTF-8 bytes: 101 'é' are 202 bytes.
  assertClosedWith(await sendAndAwaitClose(BAD_GW, encodeURIComponent('é'.repeat(101)), []), CLOSE_CODES.invalidDocId, /longer than 200 bytes/);
  assertClosedWith(await sendAndAwaitClose(BAD_GW, `${room}%01`, []), CLOSE_CODES.invalidDocId, /control characters/);
  assertClosedWith(await sendAndAwaitClose(BAD_GW, `${room}%E0%A4%A`, []), CLOSE_CODES.invalidDocId, /.+/);
  assert.deepEqual(await serverContent(room), before, 'the neighbouring document is untouched');
  await assertStillServing(room, bystander);
});

test('a frame larger than the frame limit is closed with 1009 before it is read', async () => {
  const { room, bystander, before } = await documentWithBystander('big-frame');
  const frame = encodeUpdateFrame(textUpdate('evil', 'x'.repeat(2 * MAX_FRAME_BYTES)));
  assert.ok(frame.length > MAX_FRAME_BYTES);
  const closed = await sendAndAwaitClose(BAD_GW, room, [frame]);
  // ws enforces maxPayload itself and closes with 1009 and no reason.
  assert.equal(closed.code, CLOSE_CODES.messageTooBig, `got ${closed.code} (${closed.reason})`);
  assert.deepEqual(await serverContent(room), before, 'nothing reached the document');
  await assertStillServing(room, bystander);
});

test('a valid update larger than the update limit is refused by the actor and closed with 1009', async () => {
  const { room, bystander, before } = await documentWithBystander('big-update');
  const frame = encodeUpdateFrame(textUpdate('evil', 'x'.repeat(MAX_UPDATE_BYTES + 1_000)));
  assert.ok(frame.length > MAX_UPDATE_BYTES && frame.length < MAX_FRAME_BYTES);
  assertClosedWith(await sendAndAwaitClose(BAD_GW, room, [frame]), CLOSE_CODES.messageTooBig, new RegExp(`exceeds the limit of ${MAX_UPDATE_BYTES}`));
  assert.deepEqual(await serverContent(room), before, 'nothing reached the document');
  await assertStillServing(room, bystander);
});

test('a document that would grow past its size limit is closed with 4413 and keeps its earlier content', async () => {
  const { room, bystander, before } = await documentWithBystander('big-doc');
  const CHUNK = 12_000;
  const writer = new Y.Doc();
  const raw = rawSocket(BAD_GW, room);
  assert.ok(await within(raw.opened, CLOSE_TIMEOUT_MS, 'raw socket open'));
  let accepted = 0;
  // One valid update at a time, each waited for on the bystander, until the server refuses one.
  for (let i = 0; i < 10 && raw.closeEvent() === undefined; i++) {
    const sv = Y.encodeStateVector(writer);
    writer.getText('bulk').insert(writer.getText('bulk').length, String(i % 10).repeat(CHUNK));
    const update = Y.encodeStateAsUpdate(writer, sv);
    assert.ok(update.length <= MAX_UPDATE_BYTES);
    raw.ws.send(encodeUpdateFrame(update));
    await waitFor(() => raw.closeEvent() !== undefined || bystander.doc.getText('bulk').length === (i + 1) * CHUNK, {
      what: `update ${i} applied or refused`,
    });
    if (raw.closeEvent() === undefined) accepted++;
  }
  assertClosedWith(await within(raw.closed, CLOSE_TIMEOUT_MS, 'the 4413 close'), CLOSE_CODES.documentTooLarge, new RegExp(`exceed ${MAX_DOC_BYTES} bytes`));
  // Each update is CHUNK plus ~20 bytes and the document held ~30 bytes before:
  // five updates fit in 65,536 bytes, the sixth is refused.
  assert.equal(accepted, Math.floor(MAX_DOC_BYTES / CHUNK));
  const expected = Y.encodeStateAsUpdate(writer);
  const kept = new Y.Doc();
  Y.applyUpdate(kept, expected);
  const keptText = kept.getText('bulk').toString().slice(0, accepted * CHUNK);
  assert.equal(bystander.doc.getText('bulk').toString(), keptText);
  const after = await serverContent(room);
  assert.equal(after.roots.bulk?.value, keptText, 'the accepted updates are all there, the refused one is not');
  assert.equal(after.roots.t?.value, before.roots.t?.value);
  assert.ok(after.seq > before.seq);
  await assertStillServing(room, bystander);
});

test('an update that is not a valid Yjs update, or a sync step 1 that is not a state vector, is closed with 4422', async () => {
  const { room, bystander, before } = await documentWithBystander('garbage');
  const garbage = Uint8Array.of(1, 1, 0xde, 0xad, 0xbe, 0xef, 0x42, 0x13, 0x37, 0x99, 0x01, 0x7f, 0x00, 0xc3);
  assert.throws(() => Y.decodeUpdate(garbage), 'precondition: Yjs itself rejects these bytes');
  assertClosedWith(await sendAndAwaitClose(BAD_GW, room, [encodeUpdateFrame(garbage)]), CLOSE_CODES.updateRejected, /not a valid Yjs update/);
  const notAStateVector = new TextEncoder().encode('not a state vector');
  assertClosedWith(await sendAndAwaitClose(BAD_GW, room, [encodeSyncStep1(notAStateVector)]), CLOSE_CODES.updateRejected, /invalid state vector/);
  assert.deepEqual(await serverContent(room), before, 'nothing reached the document');
  await assertStillServing(room, bystander);
});

/**
 * A valid update of one client ("hello world" in `t`, `k` in map `m`, an edit and
 * a delete) with two bytes changed: Y.decodeUpdate accepts it, Y.applyUpdate
 * integrates part of it and then throws "Unexpected case" from the transaction
 * cleanup, leaving the Y.Doc it was applied to corrupted.
 */
const DECODES_BUT_FAILS_TO_APPLY = Uint8Array.from(
  Buffer.from('010501000101017400840101016c840102086c6f20776f726c642801016d016b0177017600010201030358595a0101010002', 'hex'),
);

test(
  'an update that decodes but fails to apply is closed with 4422 and leaves the document intact',
  async () => {
    const { room, bystander, before } = await documentWithBystander('half-applied');
    assert.doesNotThrow(() => Y.decodeUpdate(DECODES_BUT_FAILS_TO_APPLY), 'precondition: the update decodes');
    assertClosedWith(await sendAndAwaitClose(BAD_GW, room, [encodeUpdateFrame(DECODES_BUT_FAILS_TO_APPLY)]), CLOSE_CODES.updateRejected, /not a valid Yjs update/);
    assert.deepEqual(await serverContent(room), before, 'nothing reached the document');
    await assertStillServing(room, bystander);
  },
);

test('a malformed awareness update is closed with 4400 and never reaches the other clients', async () => {
  const { room, bystander, before } = await documentWithBystander('awareness');
  const awareness = (state: string) => {
    const e = encoding.createEncoder();
    encoding.writeVarUint(e, 1); // one entry
    encoding.writeVarUint(e, 4242); // client id
    encoding.writeVarUint(e, 1); // clock
    encoding.writeVarString(e, state);
    return encodeAwarenessFrame(encoding.toUint8Array(e));
  };
  assertClosedWith(await sendAndAwaitClose(BAD_GW, room, [awareness('{not json')]), CLOSE_CODES.malformedFrame, /awareness update is truncated or malformed/);
  assertClosedWith(await sendAndAwaitClose(BAD_GW, room, [awareness('42')]), CLOSE_CODES.malformedFrame, /not an object/);
  assertClosedWith(await sendAndAwaitClose(BAD_GW, room, [encodeAwarenessFrame(Uint8Array.of(3, 1))]), CLOSE_CODES.malformedFrame, /truncated or malformed/);
  assert.ok(!bystander.provider.awareness.getStates().has(4242), 'the bad presence never reached the bystander');
  assert.deepEqual(await serverContent(room), before, 'nothing reached the document');
  await assertStillServing(room, bystander);
});
