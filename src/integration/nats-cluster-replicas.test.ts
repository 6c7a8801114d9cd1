/**
 * LOOM_NATS_REPLICAS on a real 3-node JetStream cluster: every stream and KV
 * bucket Loom provisions is created with the configured replica count, and
 * ones that exist with one replica are raised to three at the next start,
 * each with a log line.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { OUTBOUND_EVENTS_STREAM } from '../../protocol/outbound-events.ts';
import { LEASE_BUCKET, OWNER_BUCKET } from '../../protocol/subjects.ts';
import { provisionNats } from '../nats/provision.ts';
import { ensureStream } from '../nats/replicas.ts';
import { openRelayCursors } from '../outbound-events/relay-cursors.ts';
import { startNatsCluster, type NatsClusterHandle } from '../testing/nats-cluster.ts';
import { waitFor } from '../testing/wait-for.ts';
import { ensureOutboundEventsStream } from '../webhooks/index.ts';

let cluster: NatsClusterHandle;
let nc: NatsConnection;
let jsm: JetStreamManager;

before(async () => {
  cluster = await startNatsCluster();
  nc = await connect({ servers: cluster.urls.split(',') });
  jsm = await jetstreamManager(nc, { timeout: 10_000 });
});

after(async () => {
  await nc?.close();
  await cluster?.dispose();
});

/** A logger whose records the test reads back. */
function capturingLogger(): { log: pino.Logger; records: Array<Record<string, unknown>> } {
  const records: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, records };
}

async function replicasByStream(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const info of jsm.streams.list()) out.set(info.config.name, info.config.num_replicas);
  return out;
}

test('a new stream is created with the replica count asked for', async () => {
  const { log } = capturingLogger();
  await ensureStream(jsm, { name: 'R3_FRESH', subjects: ['r3fresh.>'] }, 3, log);
  const info = await jsm.streams.info('R3_FRESH');
  assert.equal(info.config.num_replicas, 3);
  assert.equal(info.cluster?.replicas?.length, 2, 'a leader and two followers');
});

test('every stream and bucket made at R1 is raised to R3 at the next start, with a log line each', async () => {
  const first = capturingLogger();
  await provisionNats(nc, { leaseTtlMs: 5_000, logger: first.log, replicas: 1 });
  await openRelayCursors(nc, 1, first.log);
  await ensureOutboundEventsStream(jsm, 1, first.log);
  const before = await replicasByStream();
  const loomStreams = [...before.keys()].filter((name) => name !== 'R3_FRESH');
  // The document log, job and agent logs, inference queue + DLQ, activities, and the lease, cancel, presence and cursor buckets, outbound events.
  assert.ok(loomStreams.length >= 11, `streams: ${loomStreams.join(', ')}`);
  for (const name of loomStreams) assert.equal(before.get(name), 1, `${name} starts at R1`);

  const second = capturingLogger();
  await provisionNats(nc, { leaseTtlMs: 5_000, logger: second.log, replicas: 3 });
  await openRelayCursors(nc, 3, second.log);
  await ensureOutboundEventsStream(jsm, 3, second.log);
  // A stream being scaled may be missing from a listing for a moment: ask each one.
  for (const name of loomStreams) {
    const info = await waitFor(() => jsm.streams.info(name), { what: `info of ${name}` });
    assert.equal(info.config.num_replicas, 3, `${name} is R3`);
  }
  const raised = second.records.filter((r) => r.msg === 'stream replicas updated to LOOM_NATS_REPLICAS').map((r) => r.stream);
  // The outbound stream logs its own 'stream updated' (src/webhooks/outbound-stream.ts).
  for (const name of loomStreams.filter((n) => n !== OUTBOUND_EVENTS_STREAM)) assert.ok(raised.includes(name), `log line for ${name}`);
  assert.ok(loomStreams.includes(`KV_${LEASE_BUCKET}`), 'the lease bucket is among them');
  assert.ok(loomStreams.includes(`KV_${OWNER_BUCKET}`), 'the ownership bucket is among them');
});

test('a start that finds the streams at the asked count changes nothing and logs nothing', async () => {
  const third = capturingLogger();
  await provisionNats(nc, { leaseTtlMs: 5_000, logger: third.log, replicas: 3 });
  assert.deepEqual(third.records.filter((r) => r.msg === 'stream replicas updated to LOOM_NATS_REPLICAS'), []);
});
