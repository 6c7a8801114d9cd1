/**
 * Gateway failure modes: when a gateway dies, the presence its clients owned
 * disappears from everyone else's view; a socket that stops reading is closed
 * as a slow consumer instead of being buffered without bound.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import * as Y from 'yjs';
import { encodeSyncStep1 } from '../../protocol/collab.ts';
import { CLOSE_CODES } from '../../protocol/errors.ts';
import { connectCollabClient, waitFor, type CollabClient } from '../testing/index.ts';
import { startCluster, uniqueDocName, type ClusterFixture } from './cluster-fixture.ts';

let cluster: ClusterFixture;
const clients: CollabClient[] = [];

before(async () => {
  cluster = await startCluster({ hosts: 1, gateways: 2, env: { LOOM_WS_MAX_BUFFERED_BYTES: String(4 * 1024 * 1024) } });
});
after(async () => {
  for (const c of clients) c.destroy();
  await cluster.stop();
});

test('presence owned by a SIGKILLed gateway is removed for clients on other gateways', async () => {
  const room = uniqueDocName('gw-death');
  const doomed = connectCollabClient(cluster.gateways[0]!.wsUrl, room);
  const watcher = connectCollabClient(cluster.gateways[1]!.wsUrl, room);
  clients.push(doomed, watcher);
  await Promise.all([doomed.synced(), watcher.synced()]);
  doomed.provider.awareness.setLocalStateField('user', { name: 'doomed' });
  await waitFor(() => watcher.provider.awareness.getStates().has(doomed.doc.clientID), { what: 'watcher sees doomed' });
  // Stop the doomed client from reconnecting anywhere, then kill its gateway.
  doomed.provider.shouldConnect = false;
  await cluster.gateways[0]!.kill();
  await waitFor(() => !watcher.provider.awareness.getStates().has(doomed.doc.clientID), {
    what: 'presence of the dead gateway removed',
    timeoutMs: 15_000,
  });
  await cluster.gateways[0]!.start();
});

test('a socket that stops reading is closed as a slow consumer; other clients are unaffected', async () => {
  const room = uniqueDocName('slow');
  const writer = connectCollabClient(cluster.gateways[1]!.wsUrl, room);
  const peer = connectCollabClient(cluster.gateways[1]!.wsUrl, room);
  clients.push(writer, peer);
  await Promise.all([writer.synced(), peer.synced()]);

  const slow = new WebSocket(`${cluster.gateways[1]!.wsUrl}/collab/${room}`);
  const closed = new Promise<number>((resolve) => slow.on('close', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    slow.once('open', () => resolve());
    slow.once('error', reject);
  });
  slow.send(encodeSyncStep1(Y.encodeStateVector(new Y.Doc())));
  slow.pause(); // never read again

  // Far more than the loopback socket buffers plus the 4 MiB backlog limit, paced
  // so the test process (which also reads for the peer) is not blocked by its own burst.
  const chunk = 'x'.repeat(60_000);
  let pushed = 0;
  const pacer = setInterval(() => {
    for (let k = 0; k < 4 && pushed < 400; k++, pushed++) writer.doc.getArray<string>('blobs').push([`${pushed}:${chunk}`]);
    if (pushed >= 400) clearInterval(pacer);
  }, 5);
  await waitFor(() => peer.doc.getArray('blobs').length === 400, { what: 'peer received everything', timeoutMs: 60_000 });
  // The paused socket reads again only now, and finds the server's close frame behind the backlog.
  slow.resume();
  const code = await waitFor(() => Promise.race([closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 100))]), {
    what: 'slow socket closed',
    timeoutMs: 60_000,
  });
  assert.equal(code, CLOSE_CODES.slowConsumer);
  assert.equal(peer.disconnects(), 0);
});

test('a document larger than one NATS message syncs to a new client in parts', async () => {
  const room = uniqueDocName('big');
  const writer = connectCollabClient(cluster.gateways[1]!.wsUrl, room);
  clients.push(writer);
  await writer.synced();
  const chunk = 'y'.repeat(100_000);
  // The harness's nats-server keeps the default 1 MiB max_payload; this is 3 MB.
  for (let i = 0; i < 30; i++) writer.doc.getArray<string>('blobs').push([`${i}:${chunk}`]);
  const reader = connectCollabClient(cluster.gateways[1]!.wsUrl, room);
  clients.push(reader);
  await waitFor(() => reader.doc.getArray('blobs').length === 30, { what: 'late joiner has the whole document', timeoutMs: 30_000 });
  assert.equal(reader.disconnects() + writer.disconnects(), 0);
  assert.deepEqual(reader.closes, []);
});
