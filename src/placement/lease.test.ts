import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { Kvm, type KV } from '@nats-io/kv';
import { pino } from 'pino';
import { startNatsServer, waitFor, type NatsServerHandle } from '../testing/index.ts';
import { acquireLease, leaseHolder, leaseTicker } from './lease.ts';

const log = pino({ level: 'silent' });
let server: NatsServerHandle;
let nc: NatsConnection;
let kv: KV;
const TTL_MS = 1_000;

before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  kv = await new Kvm(nc).create(`leases_${Date.now()}`, { ttl: TTL_MS, history: 1 });
});
after(async () => {
  await nc.close();
  await server.dispose();
});

const opts = (host: string, onLost: (reason: string) => void = () => undefined) => ({ host, ttlMs: TTL_MS, logger: log, onLost });

test('a lease is exclusive while its owner refreshes it, and free again once released', async () => {
  const a = await acquireLease(kv, 'doc.k1', opts('host-a'));
  assert.ok(a);
  a.start();
  assert.equal(await acquireLease(kv, 'doc.k1', opts('host-b')), null);
  // Several TTLs pass: refreshing keeps it.
  const first = a.currentRevision;
  await waitFor(() => a.currentRevision >= first + 3, { what: 'refreshed three times (over a TTL)', timeoutMs: 5_000 });
  assert.equal(await acquireLease(kv, 'doc.k1', opts('host-b')), null);
  assert.equal((await leaseHolder(kv, 'doc.k1'))?.host, 'host-a');
  await a.release();
  const b = await acquireLease(kv, 'doc.k1', opts('host-b'));
  assert.ok(b, 'released lease is immediately available');
  await b.release();
});

test('a lease whose owner stops refreshing expires and can be taken', async () => {
  const a = await acquireLease(kv, 'doc.k2', opts('host-a'));
  assert.ok(a, 'acquired');
  // Never started: like a host killed right after winning.
  const b = await waitFor(() => acquireLease(kv, 'doc.k2', opts('host-b')), { what: 'lease expired and taken', timeoutMs: 10_000 });
  assert.equal((await leaseHolder(kv, 'doc.k2'))?.host, 'host-b');
  await b.release();
});

test('an owner whose compare-and-set fails learns it lost the lease', async () => {
  let lost = '';
  const a = await acquireLease(kv, 'doc.k3', opts('host-a', (reason) => (lost = reason)));
  assert.ok(a);
  // Someone overwrites the key (e.g. after an expiry the owner missed).
  await kv.put('doc.k3', new TextEncoder().encode('{"host":"intruder","acquiredAt":""}'));
  a.start();
  await waitFor(() => lost.length > 0, { what: 'lease loss reported' });
  assert.match(lost, /taken by another host/);
});

test('an owner with fenced writes keeps its lease through an outage of the bucket; one without gives it up', async () => {
  const lost: string[] = [];
  const fenced = await acquireLease(kv, 'doc.k4', { ...opts('host-a', (reason) => lost.push(`fenced: ${reason}`)), fencedWrites: true });
  const plain = await acquireLease(kv, 'doc.k5', opts('host-b', (reason) => lost.push(`plain: ${reason}`)));
  assert.ok(fenced && plain);
  fenced.start();
  plain.start();
  // Past 0.8 x ttl without a confirmed refresh, the unfenced owner must assume the lease gone.
  await server.kill();
  await waitFor(() => lost.length > 0, { what: 'the unfenced owner gives its lease up', timeoutMs: 10_000 });
  await server.start();
  assert.deepEqual(lost, ['plain: lease could not be refreshed in time']);
  // The fenced owner still serves and holds the key again once the bucket answers (refreshed, or taken again if it expired).
  const revision = fenced.currentRevision;
  await waitFor(async () => fenced.currentRevision > revision && (await leaseHolder(kv, 'doc.k4'))?.host === 'host-a', { what: 'the fenced owner confirmed its lease', timeoutMs: 10_000 });
  assert.deepEqual(lost, ['plain: lease could not be refreshed in time']);
  await fenced.release();
});

test('every lease of a bucket handle is refreshed on one shared timer, which stops once they are released', async () => {
  const ticker = leaseTicker(kv, TTL_MS);
  const others = ticker.size;
  const leases = await Promise.all(Array.from({ length: 20 }, (_, i) => acquireLease(kv, `doc.many${i}`, opts('host-a'))));
  const held = leases.filter((l) => l !== null);
  assert.equal(held.length, 20);
  for (const lease of held) lease.start();
  assert.equal(ticker.size, others + 20);
  assert.ok(ticker.running);
  // Over a TTL, every one is refreshed (three times) and none can be taken.
  const first = held.map((l) => l.currentRevision);
  await waitFor(() => held.every((l, i) => l.currentRevision >= (first[i] ?? 0) + 3), { what: 'every lease refreshed three times', timeoutMs: 5_000 });
  assert.equal(await acquireLease(kv, 'doc.many7', opts('host-b')), null);
  await Promise.all(held.map((l) => l.release()));
  assert.equal(ticker.size, others);
  assert.equal(ticker.running, others > 0);
});
