/**
 * Durable state across the document lifecycle: compaction purges the log up
 * to a snapshot and recovery stays exact; an idle document passivates and
 * comes back on the next message; after every process (nats-server and
 * PostgreSQL included) is SIGKILLed and restarted, documents are identical.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import * as Y from 'yjs';
import { parseActorId } from '../../protocol/ids.ts';
import { DOC_LOG_STREAM, OWNER_BUCKET, docLogSubject, leaseKey } from '../../protocol/subjects.ts';
import { connectCollabClient, waitFor, type CollabClient } from '../testing/index.ts';
import { startCluster, uniqueDocName, type ClusterFixture } from './cluster-fixture.ts';

let cluster: ClusterFixture;
const clients: CollabClient[] = [];
const open = (room: string, gateway = 0) => {
  const c = connectCollabClient(cluster.gateways[gateway]!.wsUrl, room);
  clients.push(c);
  return c;
};

before(async () => {
  cluster = await startCluster({
    hosts: 2,
    gateways: 1,
    env: { LOOM_DOC_SNAPSHOT_EVERY_UPDATES: '20', LOOM_ACTOR_IDLE_MS: '1500', LOOM_LEASE_TTL_MS: '3000' },
  });
});
after(async () => {
  for (const c of clients) c.destroy();
  await cluster.stop();
});

async function logEntries(room: string): Promise<number> {
  const jsm = await jetstreamManager(cluster.nc);
  const subject = docLogSubject(parseActorId(room));
  const info = await jsm.streams.info(DOC_LOG_STREAM, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

async function snapshotCount(room: string): Promise<number> {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: cluster.databaseUrl });
  await client.connect();
  try {
    const r = await client.query<{ n: string }>('select count(*) as n from doc_snapshots where doc_id = $1', [room]);
    return Number(r.rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

/** Reads a document through a brand-new client and returns its full state. */
async function readFresh(room: string): Promise<Y.Doc> {
  const c = open(room);
  await c.synced();
  const copy = new Y.Doc();
  Y.applyUpdate(copy, Y.encodeStateAsUpdate(c.doc));
  c.destroy();
  return copy;
}

function sameDoc(a: Y.Doc, b: Y.Doc): boolean {
  return (
    Buffer.from(Y.encodeStateVector(a)).equals(Buffer.from(Y.encodeStateVector(b))) &&
    JSON.stringify(a.getText('t').toString()) === JSON.stringify(b.getText('t').toString()) &&
    JSON.stringify(a.getMap('m').toJSON()) === JSON.stringify(b.getMap('m').toJSON())
  );
}

test('compaction purges the log up to the snapshot and recovery is still exact', async () => {
  const room = uniqueDocName('compact');
  const writer = open(room);
  await writer.synced();
  for (let i = 0; i < 120; i++) {
    writer.doc.getText('t').insert(writer.doc.getText('t').length, `${i},`);
    if (i % 10 === 0) writer.doc.getMap('m').set(`k${i}`, i);
    // Separate round trips so every edit is its own log entry.
    if (i % 5 === 0) await waitFor(async () => (await readFresh(room)).getText('t').toString().endsWith(`${i},`), { what: `edit ${i} durable` });
  }
  const expected = new Y.Doc();
  Y.applyUpdate(expected, Y.encodeStateAsUpdate(writer.doc));
  await waitFor(async () => (await snapshotCount(room)) > 0, { what: 'a snapshot was written' });
  await waitFor(async () => (await logEntries(room)) < 40, { what: 'log truncated to the tail after the last snapshot' });
  writer.destroy();

  // Recovery from snapshot + tail: kill both hosts, restart them, read fresh.
  await Promise.all(cluster.hosts.map((h) => h.kill()));
  await Promise.all(cluster.hosts.map((h) => h.start()));
  assert.ok(sameDoc(await readFresh(room), expected), 'recovered document equals what the writer had');
});

test('an idle document passivates, releases its lease, and reactivates on the next message', async () => {
  const room = uniqueDocName('idle');
  const c = open(room);
  await c.synced();
  c.doc.getText('t').insert(0, 'before passivation');
  await waitFor(async () => (await readFresh(room)).getText('t').toString() === 'before passivation', { what: 'edit durable' });
  c.destroy();
  const kv = await new Kvm(cluster.nc).open(OWNER_BUCKET);
  const key = leaseKey('doc', parseActorId(room));
  await waitFor(async () => {
    const e = await kv.get(key);
    return e === null || e.operation !== 'PUT';
  }, { what: 'lease released after idle', timeoutMs: 15_000 });
  // The log line follows the lease release and reaches us through the child's pipe: wait for it.
  await waitFor(
    () => cluster.hosts.some((h) => h.grep(/"msg":"actor passivated"/).some((l) => l.includes(`"id":"${room}"`) && l.includes('"reason":"idle"'))),
    { what: 'a host logged the idle passivation' },
  );

  const back = await readFresh(room);
  assert.equal(back.getText('t').toString(), 'before passivation');
  const activations = () => cluster.hosts.flatMap((h) => h.grep(/"msg":"actor activated"/).filter((l) => l.includes(`"id":"${room}"`)));
  await waitFor(() => activations().length >= 2, { what: 'the reactivation was logged' });
});

test('after every process including nats-server and postgres is SIGKILLed and restarted, documents are identical', async () => {
  const rooms = [uniqueDocName('restart'), `folder/${uniqueDocName('restart')}.md`, uniqueDocName('restart')];
  const expected = new Map<string, Y.Doc>();
  for (const [i, room] of rooms.entries()) {
    const c = open(room);
    await c.synced();
    for (let k = 0; k < 30 + i * 10; k++) c.doc.getText('t').insert(0, `${i}-${k};`);
    c.doc.getMap('m').set('room', room);
    const copy = new Y.Doc();
    Y.applyUpdate(copy, Y.encodeStateAsUpdate(c.doc));
    await waitFor(async () => sameDoc(await readFresh(room), copy), { what: `${room} durable before the crash` });
    expected.set(room, copy);
    c.destroy();
  }
  await Promise.all([...cluster.gateways, ...cluster.hosts].map((p) => p.kill()));
  await cluster.nats.kill();
  await cluster.postgres.kill();
  await cluster.nats.start();
  await cluster.postgres.start();
  await Promise.all([...cluster.hosts, ...cluster.gateways].map((p) => p.start()));
  for (const room of rooms) {
    assert.ok(sameDoc(await readFresh(room), expected.get(room)!), `${room} identical after restart`);
  }
});
