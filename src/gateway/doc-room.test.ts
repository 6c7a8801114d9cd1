/**
 * A room on a real nats-server follows the document log's sequence through
 * its events. The test publishes the events a document actor would (update
 * with Loom-Seq / Loom-Prev-Seq, head), or the log stream's republished
 * copies (Nats-Sequence / Nats-Last-Sequence), and stands in for the actor's sync
 * reply with a Y.Doc of its own: a missed entry makes the room send every
 * member the whole state, an unbroken chain does not, failed fetches are
 * retried.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import * as Y from 'yjs';
import { decodeCollabFrame } from '../../protocol/collab.ts';
import { HEADERS, JETSTREAM_HEADERS } from '../../protocol/headers.ts';
import { parseActorId, type DocId } from '../../protocol/ids.ts';
import { eventSubject } from '../../protocol/subjects.ts';
import { createRootLogger } from '../log.ts';
import { startNatsServer, waitFor, type NatsServerHandle } from '../testing/index.ts';
import { DocRoom, type FetchDocState } from './doc-room.ts';

let nats: NatsServerHandle;
let nc: NatsConnection;
const log = createRootLogger({ level: 'silent', instanceId: 'doc-room-test' });

before(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
});
after(async () => {
  await nc?.close();
  await nats?.dispose();
});

/** The actor's side: a document whose entries the test appends and publishes by hand. */
class FakeLogPublisher {
  readonly doc = new Y.Doc();
  seq = 0;
  fetches = 0;
  failNextFetches = 0;
  /** Who announces updates: the actor (Loom-Seq) or the log stream's republish (Nats-Sequence). */
  announcer: 'actor' | 'stream' = 'actor';
  constructor(readonly id: DocId) {}

  /** Appends an edit; publishes its event unless `lost` (a NATS server died with it). */
  edit(text: string, opts: { lost?: boolean } = {}): Uint8Array {
    const before = Y.encodeStateVector(this.doc);
    this.doc.getArray<string>('log').push([text]);
    const update = Y.encodeStateAsUpdate(this.doc, before);
    const prev = this.seq;
    this.seq += 3; // another document's entries sit between in the shared stream
    if (opts.lost !== true) this.announce(update, this.seq, prev, this.announcer);
    return update;
  }

  announce(update: Uint8Array, seq: number, prev: number, by: 'actor' | 'stream'): void {
    const h: Record<string, string> =
      by === 'actor'
        ? { [HEADERS.seq]: String(seq), [HEADERS.prevSeq]: String(prev) }
        : { [JETSTREAM_HEADERS.sequence]: String(seq), [JETSTREAM_HEADERS.lastSequence]: String(prev), 'Nats-Stream': 'LOOM_DOC_LOG' };
    this.publish('update', update, h);
  }

  head(): void {
    this.publish('head', new Uint8Array(0), { [HEADERS.seq]: String(this.seq) });
  }

  publish(event: string, body: Uint8Array, h: Record<string, string>): void {
    const nh = natsHeaders();
    for (const [k, v] of Object.entries(h)) nh.set(k, v);
    nc.publish(eventSubject('doc', this.id, event), body, { headers: nh });
  }

  readonly fetchState: FetchDocState = async () => {
    this.fetches++;
    if (this.failNextFetches > 0) {
      this.failNextFetches--;
      throw new Error('actor unavailable (test)');
    }
    return { update: Y.encodeStateAsUpdate(this.doc), seq: this.seq };
  };
}

/** A member that applies every frame to its own Y.Doc, like a y-websocket client. */
function member(connId: string) {
  const doc = new Y.Doc();
  return {
    connId,
    doc,
    frames: 0,
    send(frame: Uint8Array) {
      this.frames++;
      const f = decodeCollabFrame(frame);
      if (f.type === 'update') Y.applyUpdate(doc, f.update);
    },
    items: () => doc.getArray<string>('log').toArray(),
  };
}

async function openRoom(name: string) {
  const actor = new FakeLogPublisher(parseActorId(`${name}-${Date.now()}`));
  const room = new DocRoom({ nc, docId: actor.id, log, fetchState: actor.fetchState, onEmpty: () => undefined, repairBackoff: { firstMs: 10, maxMs: 40, attempts: 5 } });
  await room.ready;
  const m = member('c1');
  room.join(m);
  return { actor, room, m };
}

test('an unbroken chain of updates is relayed as is, with no resync', async () => {
  const { actor, room, m } = await openRoom('chain');
  for (const t of ['a', 'b', 'c']) actor.edit(t);
  actor.head();
  await nc.flush();
  await waitFor(() => m.items().length === 3, { what: 'three updates relayed' });
  assert.deepEqual(m.items(), ['a', 'b', 'c']);
  assert.equal(actor.fetches, 0, 'no resync');
  assert.equal(m.frames, 3);
  room.leave(m);
});

test('a lost update is noticed at the next one: every member gets the whole state and converges', async () => {
  const { actor, room, m } = await openRoom('gap');
  actor.edit('a');
  actor.edit('b', { lost: true });
  await nc.flush();
  await waitFor(() => m.items().length === 1, { what: 'first update relayed' });
  actor.edit('c');
  await waitFor(() => m.items().length === 3, { what: 'the missed entry repaired' });
  assert.deepEqual(m.items(), ['a', 'b', 'c']);
  assert.equal(actor.fetches, 1, 'one resync');
  room.leave(m);
});

test('a lost last update is noticed at the head the actor publishes after its reconnect', async () => {
  const { actor, room, m } = await openRoom('tail');
  actor.edit('a');
  await nc.flush();
  await waitFor(() => m.items().length === 1, { what: 'first update relayed' });
  actor.edit('b', { lost: true });
  actor.head();
  await waitFor(() => m.items().length === 2, { what: 'the lost tail repaired' });
  assert.deepEqual(m.items(), ['a', 'b']);
  assert.equal(actor.fetches, 1);
  actor.head();
  await nc.flush();
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(actor.fetches, 1, 'a head at the last seen entry asks for nothing');
  room.leave(m);
});

test('a resync that fails is retried until the actor answers', async () => {
  const { actor, room, m } = await openRoom('retry');
  room.synced(actor.seq);
  actor.edit('a', { lost: true });
  actor.failNextFetches = 2;
  actor.edit('b');
  await waitFor(() => m.items().length === 2, { what: 'repaired after two failed fetches' });
  assert.deepEqual(m.items(), ['a', 'b']);
  assert.equal(actor.fetches, 3);
  room.leave(m);
});

test('updates the log stream republishes are followed by their JetStream sequences: a chain is relayed, a gap repaired', async () => {
  const { actor, room, m } = await openRoom('stream');
  actor.announcer = 'stream';
  actor.edit('a');
  actor.edit('b');
  await nc.flush();
  await waitFor(() => m.items().length === 2, { what: 'two republished updates relayed' });
  assert.equal(actor.fetches, 0, 'an unbroken chain asks for nothing');
  actor.edit('c', { lost: true });
  actor.edit('d');
  await waitFor(() => m.items().length === 4, { what: 'the missed entry repaired' });
  assert.deepEqual(m.items(), ['a', 'b', 'c', 'd']);
  assert.equal(actor.fetches, 1);
  room.leave(m);
});

test('an update reaches each member once when it comes twice, first-hand and as the log stream\'s copy, in either order', async () => {
  const { actor, room, m } = await openRoom('twice');
  const first = actor.edit('a');
  actor.announce(first, actor.seq, actor.seq - 3, 'stream');
  actor.announcer = 'stream';
  const second = actor.edit('b');
  actor.announce(second, actor.seq, actor.seq - 3, 'actor');
  actor.head();
  await nc.flush();
  await waitFor(() => m.items().length === 2, { what: 'both updates relayed' });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(m.frames, 2, 'one frame per update');
  assert.equal(actor.fetches, 0);
  room.leave(m);
});
