/**
 * The cluster test, short form (part of npm test): Loom on a 3-node R3
 * NATS JetStream cluster on loopback (two gateways, two actor hosts, an
 * inference worker with the test model server) runs one kill cycle of
 * nats-cluster-fixture.ts while two clients edit without pause and jobs
 * run: SIGKILL of the NATS node leading the document log, then of the actor
 * host owning the document, then a restart of both. Nothing any client saw
 * is lost, the clients converge, every job succeeds and every job step seen
 * succeeded stays succeeded. How soon writes resume is printed, not
 * asserted (no timed assertions here); `npm run chaos` runs five cycles and
 * holds them to the 15 s.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runChaos, startLoomOnNatsCluster, type LoomOnCluster } from './nats-cluster-fixture.ts';

let cluster: LoomOnCluster;

before(async () => {
  cluster = await startLoomOnNatsCluster();
});
after(async () => {
  await cluster?.stop();
});

test('R3 cluster: losing a NATS node, then an actor host, loses no update any client saw and no acknowledged job step', async () => {
  const f = await runChaos(cluster, { rounds: 1, resumeWaitMs: 60_000 });
  assert.ok(f.updatesSeen > 0, 'clients saw each other\'s updates');
  assert.deepEqual(f.updatesLost, [], 'every update a client saw is durable');
  assert.ok(f.converged, 'the clients converge');
  assert.ok(f.jobs.length === 2, `two jobs ran: ${f.jobs.length}`);
  assert.deepEqual(f.jobs.map((j) => [j.id, j.status, j.error?.message ?? null]), f.jobs.map((j) => [j.id, 'succeeded', null]));
  assert.ok(f.stepsSeenSucceeded > 0, 'steps were seen succeeded during the run');
  assert.deepEqual(f.stepsLost, [], 'every step seen succeeded is still succeeded');
});
