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
  cluster = await startCluster({ hosts: 1, gateways: 2, env: { LOOM_WS_MAX_BUFFERED_BYTES: '65536' } });
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

  const chunk = 'x'.repeat(16_000);
  for (let i = 0; i < 400; i++) writer.doc.getArray<string>('blobs').push([`${i}:${chunk}`]);
  const code = await Promise.race([
    closed,
    waitFor(() => peer.doc.getArray('blobs').length === 400, { what: 'peer received everything', timeoutMs: 30_000 }).then(() => closed),
  ]);
  assert.equal(code, CLOSE_CODES.slowConsumer);
  await waitFor(() => peer.doc.getArray('blobs').length === 400, { what: 'peer unaffected', timeoutMs: 30_000 });
  assert.equal(peer.disconnects(), 0);
});
