import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { pino } from 'pino';
import { hostLivenessKey } from '../../protocol/subjects.ts';
import { startNatsServer, waitFor, type NatsServerHandle } from '../testing/index.ts';
import { HostLiveness } from './host-liveness.ts';
import { acquireLease } from './lease.ts';
import { OwnerDirectory, Ownership } from './ownership.ts';

const log = pino({ level: 'silent' });
const TTL_MS = 1_000;
let server: NatsServerHandle;
let nc: NatsConnection;
const extra: NatsConnection[] = [];

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
});
after(async () => {
  for (const c of extra) if (!c.isClosed()) await c.close();
  await nc.close();
  await server.dispose();
});

interface Buckets {
  readonly leases: KV;
  readonly owners: KV;
  readonly jsm: JetStreamManager;
  readonly ownersStream: string;
  readonly leaseBucket: string;
  readonly ownerBucket: string;
}

/** Fresh lease (TTL) and ownership (no TTL) buckets, as provisionNats makes them. */
async function freshBuckets(): Promise<Buckets> {
  const suffix = randomBytes(4).toString('hex');
  const kvm = new Kvm(nc);
  const leases = await kvm.create(`leases_${suffix}`, { ttl: TTL_MS, history: 1 });
  const owners = await kvm.create(`owners_${suffix}`, { history: 1 });
  return { leases, owners, jsm: await jetstreamManager(nc), ownersStream: `KV_owners_${suffix}`, leaseBucket: `leases_${suffix}`, ownerBucket: `owners_${suffix}` };
}

/** A host on its own connection (closing it is the host's death), over the buckets named in `b`. */
async function hostOn(b: Buckets, hostId: string): Promise<{ liveness: HostLiveness; directory: OwnerDirectory; conn: NatsConnection }> {
  const conn = await connect({ servers: server.url });
  extra.push(conn);
  const kvm = new Kvm(conn);
  const leases = await kvm.open(b.leaseBucket);
  const owners = await kvm.open(b.ownerBucket);
  const jsm = await jetstreamManager(conn);
  return {
    liveness: new HostLiveness({ kv: leases, hostId, ttlMs: TTL_MS, log }),
    directory: new OwnerDirectory({ leases, owners, jsm, ownersStream: b.ownersStream }, TTL_MS),
    conn,
  };
}

const noLoss = { log, onLost: () => undefined };

function owned(result: Ownership | { heldBy: string | null }): Ownership {
  assert.ok(result instanceof Ownership, `expected an ownership, got ${'heldBy' in result ? `held by ${result.heldBy}` : String(result)}`);
  return result;
}

async function livenessRevision(b: Buckets, hostId: string): Promise<number> {
  return (await b.leases.get(hostLivenessKey(hostId)))?.revision ?? 0;
}

test('an actor owned by a live host stays there; once the host dies its entry is taken over after its liveness expires', async () => {
  const b = await freshBuckets();
  const a = await hostOn(b, 'host-a');
  const other = await hostOn(b, 'host-b');
  owned(await a.directory.acquire('doc.t1', a.liveness, noLoss));
  // Several TTLs pass: the host's liveness refreshes keep the entry (which is never written) valid.
  const first = await livenessRevision(b, 'host-a');
  await waitFor(async () => (await livenessRevision(b, 'host-a')) >= first + 4, { what: 'host-a liveness refreshed over a TTL', timeoutMs: 10_000 });
  assert.deepEqual(await other.directory.acquire('doc.t1', other.liveness, noLoss), { heldBy: 'host-a' });
  assert.equal((await other.directory.liveOwner('doc.t1'))?.host, 'host-a');
  // host-a's process dies (its connection goes, nothing is released).
  await a.conn.close();
  const taken = await waitFor(
    async () => {
      const r = await other.directory.acquire('doc.t1', other.liveness, noLoss);
      return r instanceof Ownership ? r : null;
    },
    { what: 'the entry taken over once host-a liveness expired', timeoutMs: 10_000 },
  );
  assert.equal((await other.directory.liveOwner('doc.t1'))?.host, 'host-b');
  await taken.release();
  await other.liveness.release();
});

test('a released actor can be activated by another host at once, and leaves no marker behind', async () => {
  const b = await freshBuckets();
  const a = await hostOn(b, 'host-a');
  const other = await hostOn(b, 'host-b');
  const mine = owned(await a.directory.acquire('doc.t2', a.liveness, noLoss));
  await mine.release();
  assert.equal(await b.owners.get('doc.t2'), null, 'the entry is gone, not a delete marker');
  const theirs = owned(await other.directory.acquire('doc.t2', other.liveness, noLoss));
  // The old owner's late release (its revision) leaves the new entry alone.
  assert.equal(await a.directory.remove('doc.t2', mine.currentRevision), false);
  assert.equal((await other.directory.liveOwner('doc.t2'))?.host, 'host-b');
  await theirs.release();
  const info = await b.jsm.streams.info(b.ownersStream);
  assert.equal(info.state.messages, 0);
  await a.liveness.release();
  await other.liveness.release();
});

test('a host whose liveness is lost steps every actor down, and its entries are free for others', async () => {
  const b = await freshBuckets();
  const a = await hostOn(b, 'host-a');
  const other = await hostOn(b, 'host-b');
  const lost: string[] = [];
  for (const key of ['doc.l1', 'doc.l2', 'doc.l3']) owned(await a.directory.acquire(key, a.liveness, { log, onLost: (reason) => lost.push(`${key}: ${reason}`) }));
  assert.equal(a.liveness.size, 3);
  // Another process with the same host id writes the liveness key: host-a's next refresh is refused.
  await b.leases.put(hostLivenessKey('host-a'), new TextEncoder().encode('{"host":"host-a","acquiredAt":"","token":"intruder"}'));
  await waitFor(() => lost.length === 3, { what: 'every actor of host-a stepped down' });
  assert.ok(lost.every((l) => l.includes('host liveness lost: lease taken by another host')), lost.join('\n'));
  assert.equal(a.liveness.size, 0);
  // Their entries name an incarnation that is not live any more: another host takes them at once.
  owned(await other.directory.acquire('doc.l2', other.liveness, noLoss));
  // host-a cannot activate while the other process holds its host id.
  await assert.rejects(a.directory.acquire('doc.l4', a.liveness, noLoss), /live in another process/);
  await other.liveness.release();
});

test('idle actors cost no KV write: only the host liveness key is refreshed', async () => {
  const b = await freshBuckets();
  const a = await hostOn(b, 'host-a');
  const held = await Promise.all(Array.from({ length: 50 }, async (_, i) => owned(await a.directory.acquire(`doc.idle${i}`, a.liveness, noLoss))));
  // Every KV write is a message on $KV.<bucket>.<key>: count them as the server sees them.
  const writes: string[] = [];
  const sub = nc.subscribe(`$KV.${b.ownerBucket}.>`, { callback: (_err, msg) => void writes.push(msg.subject) });
  const leaseSub = nc.subscribe(`$KV.${b.leaseBucket}.>`, { callback: (_err, msg) => void writes.push(msg.subject) });
  await nc.flush();
  const ownersBefore = (await b.jsm.streams.info(b.ownersStream)).state.last_seq;
  const livenessSubject = `$KV.${b.leaseBucket}.${hostLivenessKey('host-a')}`;
  // Nine refresh periods (three TTLs).
  await waitFor(() => writes.filter((s) => s === livenessSubject).length >= 9, { what: 'nine liveness refreshes', timeoutMs: 15_000 });
  sub.unsubscribe();
  leaseSub.unsubscribe();
  assert.deepEqual(new Set(writes), new Set([livenessSubject]), 'no write but the liveness refreshes');
  assert.equal((await b.jsm.streams.info(b.ownersStream)).state.last_seq, ownersBefore, 'no write to any of the 50 ownership entries');
  await Promise.all(held.map((o) => o.release()));
  await a.liveness.release();
});

// Last: it stops the server.
test('a host rides through an outage of the bucket longer than the TTL: its actors stay, their entries still valid', async () => {
  const b = await freshBuckets();
  const a = await hostOn(b, 'host-a');
  const lost: string[] = [];
  const onLost = (reason: string) => lost.push(reason);
  owned(await a.directory.acquire('doc.r1', a.liveness, { log, onLost }));
  owned(await a.directory.acquire('doc.r2', a.liveness, { log, onLost }));
  // An unfenced lease on the same bucket is the clock: it gives up after 0.8 x ttl unconfirmed.
  let plainLost = false;
  const plain = await acquireLease(b.leases, 'task.clock', { host: 'clock', ttlMs: TTL_MS, logger: log, onLost: () => (plainLost = true) });
  assert.ok(plain);
  plain.start();
  const before = await livenessRevision(b, 'host-a');
  await server.kill();
  await waitFor(() => plainLost, { what: 'the unfenced lease gives up', timeoutMs: 10_000 });
  await server.start();
  await waitFor(async () => (await livenessRevision(b, 'host-a')) > before, { what: 'host-a liveness confirmed again', timeoutMs: 15_000 });
  assert.deepEqual(lost, []);
  assert.equal(a.liveness.size, 2);
  assert.equal((await a.directory.liveOwner('doc.r1'))?.host, 'host-a');
  await a.liveness.release();
});
