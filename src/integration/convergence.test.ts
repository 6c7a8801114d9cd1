/**
 * Two gateways and two actor hosts as separate processes: y-websocket clients
 * on different gateways converge, presence crosses gateways and leaves with
 * its connection, and concurrent activations end with one live instance.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as Y from 'yjs';
import { connectCollabClient, waitFor, type CollabClient } from '../testing/index.ts';
import { startCluster, uniqueDocName, type ClusterFixture } from './cluster-fixture.ts';

let cluster: ClusterFixture;
const clients: CollabClient[] = [];
const client = (gateway: number, room: string) => {
  const c = connectCollabClient(cluster.gateways[gateway]!.wsUrl, room);
  clients.push(c);
  return c;
};

before(async () => {
  cluster = await startCluster({ hosts: 2, gateways: 2 });
});
after(async () => {
  for (const c of clients) c.destroy();
  await cluster.stop();
});

test('clients on different gateways editing the same documents converge', async () => {
  const rooms = [uniqueDocName(), `team/notes:${uniqueDocName()}.md`, `${uniqueDocName()} ünïcode ✓`];
  const pairs = rooms.map((room) => [client(0, room), client(1, room), client(1, room)] as const);
  await Promise.all(pairs.flat().map((c) => c.synced()));
  for (const [i, trio] of pairs.entries()) {
    trio.forEach((c, j) => {
      for (let k = 0; k < 20; k++) c.doc.getText('t').insert(0, `${i}${j}${k};`);
      c.doc.getMap('m').set(`client-${j}`, j);
    });
  }
  for (const trio of pairs) {
    await waitFor(
      () => trio.every((c) => c.doc.getText('t').toString().split(';').length === 3 * 20 + 1 && c.doc.getMap('m').size === 3) &&
        trio.every((c) => c.doc.getText('t').toString() === trio[0].doc.getText('t').toString()),
      { what: 'all clients converged', timeoutMs: 20_000 },
    );
  }
  // The server's copy, read over HTTP, is the same document.
  const res = await fetch(`${cluster.gateways[0]!.httpUrl}/v1/docs/${encodeURIComponent(rooms[1]!)}`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as { roots: Record<string, { type: string; value: unknown }> };
  assert.equal(body.roots.t?.value, pairs[1]![0].doc.getText('t').toString());
  assert.deepEqual(body.roots.m?.value, { 'client-0': 0, 'client-1': 1, 'client-2': 2 });
});

test('presence crosses gateways and is removed when its connection closes', async () => {
  const room = uniqueDocName('presence');
  const a = client(0, room);
  const b = client(1, room);
  await Promise.all([a.synced(), b.synced()]);
  a.provider.awareness.setLocalStateField('user', { name: 'ada' });
  await waitFor(() => (b.provider.awareness.getStates().get(a.doc.clientID) as { user?: { name: string } } | undefined)?.user?.name === 'ada', {
    what: 'b sees a',
  });
  a.provider.disconnect();
  await waitFor(() => !b.provider.awareness.getStates().has(a.doc.clientID), { what: 'a removed from b' });
  // A late joiner gets current presence in its first sync.
  const c = client(0, room);
  b.provider.awareness.setLocalStateField('user', { name: 'bob' });
  await waitFor(() => c.provider.awareness.getStates().has(b.doc.clientID), { what: 'c sees b' });
});

test('many concurrent activations of one document end with exactly one live instance', async () => {
  const room = uniqueDocName('race');
  const racers = Array.from({ length: 8 }, (_, i) => client(i % 2, room));
  const reads = Array.from({ length: 10 }, (_, i) => fetch(`${cluster.gateways[i % 2]!.httpUrl}/v1/docs/${room}`));
  await Promise.all(racers.map((c) => c.synced()));
  await Promise.all(reads);
  racers[0]!.doc.getText('t').insert(0, 'x');
  await waitFor(() => racers.every((c) => c.doc.getText('t').toString() === 'x'), { what: 'all racers see the edit' });
  const activations = () => cluster.hosts.flatMap((h) => h.grep(/"msg":"actor activated"/).filter((l) => l.includes(`"id":"${room}"`)));
  // Log lines reach us through the hosts' pipes: wait for the first, then check there is no second.
  await waitFor(() => activations().length >= 1, { what: 'activation logged' });
  assert.equal(activations().length, 1, `expected one activation, saw:\n${activations().join('\n')}`);
});

test('an update made while a client is offline reaches it when it reconnects', async () => {
  const room = uniqueDocName('offline');
  const a = client(0, room);
  const b = client(1, room);
  await Promise.all([a.synced(), b.synced()]);
  b.provider.disconnect();
  a.doc.getArray<number>('a').push([1, 2, 3]);
  b.doc.getArray<number>('a').push([4]);
  b.provider.connect();
  await waitFor(() => a.doc.getArray('a').length === 4 && b.doc.getArray('a').length === 4, { what: 'offline edits merged' });
  assert.deepEqual(Y.encodeStateVector(a.doc), Y.encodeStateVector(b.doc));
});
