/**
 * The in-process fast path (src/host/local-actors.ts): one process runs a
 * gateway and the actors, a second process is a gateway only. Updates from
 * the first process's sockets reach their actor without NATS and still
 * converge with clients on the other gateway; a SIGKILL of the first
 * process while it writes loses nothing that any client had seen. The log
 * stream announces each stored update on NATS (its republish rule), and a
 * client beside the actor, which hears it first-hand too, gets it once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import * as Y from 'yjs';
import { parseActorId } from '../../protocol/ids.ts';
import { HEADERS, JETSTREAM_HEADERS } from '../../protocol/headers.ts';
import { commandSubject, eventSubject } from '../../protocol/subjects.ts';
import {
  connectCollabClient,
  startLoomProcess,
  startNatsServer,
  startPostgresServer,
  waitFor,
  type CollabClient,
  type LoomProcess,
  type NatsServerHandle,
  type PostgresServerHandle,
} from '../testing/index.ts';
import { uniqueDocName } from './cluster-fixture.ts';

let nats: NatsServerHandle;
let postgres: PostgresServerHandle;
let both: LoomProcess;
let gateway: LoomProcess;
let nc: NatsConnection;
const clients: CollabClient[] = [];
const open = (p: LoomProcess, room: string) => {
  const c = connectCollabClient(p.wsUrl, room);
  clients.push(c);
  return c;
};

before(async () => {
  nats = await startNatsServer();
  postgres = await startPostgresServer();
  const databaseUrl = await postgres.createDatabase();
  both = await startLoomProcess({ name: 'both', roles: ['gateway', 'actors'], natsUrl: nats.url, databaseUrl, env: { LOOM_LEASE_TTL_MS: '3000' } });
  gateway = await startLoomProcess({ name: 'gw', roles: ['gateway'], natsUrl: nats.url, databaseUrl, env: {} });
  nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
});
after(async () => {
  for (const c of clients) c.destroy();
  await nc.close();
  await Promise.allSettled([gateway.stop(), both.stop()]);
  await nats.dispose();
  await postgres.dispose();
});

/** Counts the update commands that cross NATS for a document. */
function countNatsUpdates(room: string): { count: () => number; sub: Subscription } {
  let n = 0;
  const sub = nc.subscribe(commandSubject('doc', parseActorId(room), 'update'), {
    callback: () => {
      n++;
    },
  });
  return { count: () => n, sub };
}

test('updates from the actor host process skip NATS and converge with clients on another gateway', async () => {
  const room = uniqueDocName('fast');
  const local = [open(both, room), open(both, room)];
  const remote = open(gateway, room);
  await Promise.all([...local, remote].map((c) => c.synced()));
  await nc.flush();
  const nats = countNatsUpdates(room);
  await nc.flush();
  local.forEach((c, j) => {
    for (let k = 0; k < 20; k++) c.doc.getMap('m').set(`local-${j}-${k}`, k);
  });
  await waitFor(() => [...local, remote].every((c) => c.doc.getMap('m').size === 40), { what: 'local edits everywhere', timeoutMs: 20_000 });
  assert.equal(nats.count(), 0, 'edits from the actor host process crossed NATS');
  for (let k = 0; k < 20; k++) remote.doc.getMap('m').set(`remote-${k}`, k);
  await waitFor(() => [...local, remote].every((c) => c.doc.getMap('m').size === 60), { what: 'remote edits everywhere', timeoutMs: 20_000 });
  assert.ok(nats.count() > 0, 'edits from the other gateway reach the actor over NATS');
  nats.sub.unsubscribe();
  const vectors = [...local, remote].map((c) => Buffer.from(Y.encodeStateVector(c.doc)).toString('hex'));
  assert.equal(new Set(vectors).size, 1, `state vectors differ: ${vectors.join(' ')}`);
});

test('a SIGKILL of the gateway-and-actors process while it writes loses nothing a client saw', async () => {
  const room = uniqueDocName('fast-kill');
  const writer = open(both, room);
  const watcherHere = open(both, room);
  const watcherThere = open(gateway, room);
  await Promise.all([writer, watcherHere, watcherThere].map((c) => c.synced()));
  let sent = 0;
  const timer = setInterval(() => {
    for (let i = 0; i < 5; i++) writer.doc.getMap('m').set(`k${sent++}`, sent);
  }, 5);
  try {
    await waitFor(() => watcherHere.doc.getMap('m').size >= 100 && watcherThere.doc.getMap('m').size >= 100, { what: 'watchers saw edits', timeoutMs: 20_000 });
    await both.kill();
  } finally {
    clearInterval(timer);
  }
  // What each watcher had seen when the process died (the one on `both` lost its socket with it).
  const seen = [watcherHere, watcherThere].map((c) => new Set(c.doc.getMap('m').keys()));
  for (const c of [writer, watcherHere]) c.provider.disconnect();
  await both.start();
  const reader = open(gateway, room);
  await reader.synced();
  const durable = reader.doc.getMap('m');
  for (const [i, keys] of seen.entries()) {
    const lost = [...keys].filter((k) => !durable.has(k));
    assert.deepEqual(lost, [], `watcher ${i} saw ${keys.size} edits; ${lost.length} are gone after the kill`);
  }
  assert.ok(seen[0]!.size >= 100 && seen[1]!.size >= 100);
});

test('the log stream announces each stored update once on NATS, and a client beside the actor gets each once', async () => {
  const room = uniqueDocName('announced');
  const writer = open(both, room);
  const watcher = open(both, room);
  const remote = open(gateway, room);
  await Promise.all([writer, watcher, remote].map((c) => c.synced()));
  const events: MsgHdrs[] = [];
  const sub = nc.subscribe(eventSubject('doc', parseActorId(room), 'update'), {
    callback: (_err, msg) => {
      if (msg.headers !== undefined) events.push(msg.headers);
    },
  });
  await nc.flush();
  // y-websocket frames: messageSync (0), then syncUpdate (2).
  let updateFrames = 0;
  watcher.provider.ws!.addEventListener('message', (event: MessageEvent) => {
    const data = new Uint8Array(event.data as ArrayBuffer);
    if (data[0] === 0 && data[1] === 2) updateFrames++;
  });
  for (let k = 0; k < 20; k++) writer.doc.getMap('m').set(`k${k}`, k);
  await waitFor(() => [watcher, remote].every((c) => c.doc.getMap('m').size === 20), { what: 'edits everywhere', timeoutMs: 20_000 });
  await nc.flush();
  await new Promise((resolve) => setTimeout(resolve, 200));
  sub.unsubscribe();
  assert.ok(events.length >= 1 && events.length <= 20, `${events.length} update events for 20 edits`);
  let prev: number | undefined;
  for (const h of events) {
    // JetStream's copy, not the actor's: the stream's sequences, the sender's origin, no Loom-Source.
    assert.equal(h.get(HEADERS.seq), '');
    assert.equal(h.get(HEADERS.source), '');
    assert.notEqual(h.get(HEADERS.origin), '');
    const seq = Number(h.get(JETSTREAM_HEADERS.sequence));
    if (prev !== undefined) assert.equal(Number(h.get(JETSTREAM_HEADERS.lastSequence)), prev, 'each event names the entry before it');
    prev = seq;
  }
  assert.equal(updateFrames, events.length, 'the client beside the actor got each update once');
});
