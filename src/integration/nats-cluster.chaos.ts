/**
 * The cluster test, long form (`npm run chaos`, CHAOS_ROUNDS cycles, 5 by
 * default there): the kill cycle of nats-cluster-fixture.ts repeated on one
 * R3 cluster, with the bound: writes resume within 15 s of every
 * loss (nats-server 2.9.10 elects a new stream leader in about 7 s; actors
 * ride through it without giving up their documents). Not named *.test.ts:
 * the short form, nats-cluster.test.ts, is the one in `npm test`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runChaos, startLoomOnNatsCluster, type LoomOnCluster } from './nats-cluster-fixture.ts';

const ROUNDS = Number(process.env.CHAOS_ROUNDS ?? '1');
/** The bound: writes flow again this long after a node is lost. */
const RESUME_BOUND_MS = 15_000;

let cluster: LoomOnCluster;

before(async () => {
  cluster = await startLoomOnNatsCluster();
});
after(async () => {
  await cluster?.stop();
});

test(`R3 cluster, ${ROUNDS} kill cycles: nothing seen is lost, and writes resume within 15 s of every loss`, async () => {
  const f = await runChaos(cluster, { rounds: ROUNDS, resumeWaitMs: 60_000 });
  process.stdout.write(`# chaos: after the NATS node loss ${f.afterNatsLossMs.join(', ')} ms; after the host loss ${f.afterHostLossMs.join(', ')} ms\n`);
  assert.deepEqual(f.updatesLost, [], 'every update a client saw is durable');
  assert.ok(f.converged, 'the clients converge');
  assert.deepEqual(f.jobs.map((j) => [j.id, j.status]), f.jobs.map((j) => [j.id, 'succeeded']));
  assert.deepEqual(f.stepsLost, [], 'every step seen succeeded is still succeeded');
  const slow = [...f.afterNatsLossMs, ...f.afterHostLossMs].filter((ms) => ms >= RESUME_BOUND_MS);
  assert.deepEqual(slow, [], `writes resumed later than ${RESUME_BOUND_MS} ms after a loss`);
});
