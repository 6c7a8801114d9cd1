/**
 * The inference queue's doorbell: LOOM_INFERENCE rings each request once it
 * is stored, headers only (INFERENCE_RING_REPUBLISH), so a worker pulls once
 * per request and never receives a body twice; a stream made before the
 * rule still wakes workers on the request subjects. Real nats-server.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import {
  INFERENCE_RING_REPUBLISH,
  INFERENCE_STREAM,
  INFERENCE_SUBJECTS,
  inferenceConsumerName,
  inferenceRingSubject,
  MSG_ID_HEADER,
} from '../../protocol/inference.ts';
import { apiPrefixOf } from '../nats/api-prefix.ts';
import { streamRepublishes } from '../nats/republish.ts';
import { waitFor } from '../testing/index.ts';
import { firstResult, startInferenceFixture, uniqueName, type InferenceFixture } from '../testing/inference-worker-fixture.ts';
import { pullNoWait } from './no-wait-pull.ts';
import { ensureInferenceConsumer } from './provision.ts';

const fixtures: InferenceFixture[] = [];
after(() => Promise.all(fixtures.map((f) => f.stop())));

async function fixture(opts?: Parameters<typeof startInferenceFixture>[0]): Promise<InferenceFixture> {
  const f = await startInferenceFixture(opts);
  fixtures.push(f);
  return f;
}

/** Counts the worker pulls (`$JS.API.CONSUMER.MSG.NEXT`) on the inference stream. */
async function countPulls(nc: NatsConnection): Promise<{ readonly count: () => number; readonly stop: () => void }> {
  let pulls = 0;
  const sub = nc.subscribe(`$JS.API.CONSUMER.MSG.NEXT.${INFERENCE_STREAM}.>`, { callback: () => void pulls++ });
  await nc.flush();
  return { count: () => pulls, stop: () => sub.unsubscribe() };
}

test('a stored request rings once, headers only, and a pull right after the ring finds it', async () => {
  const f = await fixture();
  assert.equal(await streamRepublishes(f.jsm, INFERENCE_STREAM, INFERENCE_RING_REPUBLISH), true, 'a new stream is made with the ring rule');
  const model = uniqueName('m');
  const consumer = await ensureInferenceConsumer(f.jsm, model, 'interactive', { ackWaitMs: 5_000, maxDeliver: 3, maxAckPending: 100 }, f.log);
  const rings: Msg[] = [];
  const sub = f.nc.subscribe(inferenceRingSubject(model, 'interactive'), { callback: (_err, m) => void rings.push(m) });
  await f.nc.flush();
  const caller = await f.caller();
  const target = { apiPrefix: apiPrefixOf(f.jsm.getOptions()), stream: INFERENCE_STREAM, consumer };
  for (let i = 0; i < 20; i++) {
    const request = f.request(model, caller, `request ${i}`);
    await f.submit(request, 'interactive');
    const ring = await waitFor(() => rings[i], { what: `ring ${i}` });
    assert.equal(ring.data.length, 0, 'a ring carries no body');
    assert.equal(ring.headers?.get(MSG_ID_HEADER), request.requestId);
    assert.ok(Number(ring.headers?.get('Nats-Msg-Size')) > 0);
    // The ring comes after the store: the pull finds the request every time.
    const [msg, ...more] = await pullNoWait(f.nc, target, 4, 5_000);
    assert.ok(msg !== undefined, `request ${i} was not there right after its ring`);
    assert.equal(more.length, 0);
    assert.equal(msg.headers[MSG_ID_HEADER], request.requestId);
    await msg.ack(5_000);
    if (i === 0) {
      // A repeat within the duplicate window is not stored again, and rings no bell.
      await f.submit(request, 'interactive');
    }
  }
  await f.nc.flush();
  assert.equal(rings.length, 20);
  sub.unsubscribe();
});

test('an idle worker pulls once per request: the ring says the request is there', async () => {
  const f = await fixture();
  f.model.configure({ respond: () => 'ok', tokenDelayMs: 0, firstTokenDelayMs: 0 });
  const model = uniqueName('m');
  // No idle polls during the test: every pull is the worker's answer to a ring, or its first look.
  const worker = await f.startWorker({ models: [model], idlePollMs: 60_000 });
  const pulls = await countPulls(f.nc);
  const requests = 10;
  for (let i = 0; i < requests; i++) {
    const caller = await f.caller();
    await f.submit(f.request(model, caller, `request ${i}`), 'interactive');
    assert.ok((await firstResult(caller)).ok);
  }
  // One pull per request; before the ring rule it was three (the ring came before the store, then a quick second look at each queue).
  assert.ok(pulls.count() <= requests + 2, `${pulls.count()} pulls for ${requests} requests`);
  pulls.stop();
  await worker.stop();
});

test('a stream made before the ring rule still wakes the worker, on the request subjects', async () => {
  const f = await fixture({
    beforeProvision: async (jsm) => {
      // LOOM_INFERENCE as an older Loom made it: no republish rule.
      await jsm.streams.add({ name: INFERENCE_STREAM, subjects: [INFERENCE_SUBJECTS], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
    },
  });
  // nats-server 2.9 cannot add the rule to an existing stream; 2.10+ adds it. Either way requests are served.
  const rings = await streamRepublishes(f.jsm, INFERENCE_STREAM, INFERENCE_RING_REPUBLISH);
  f.model.configure({ respond: () => 'served', tokenDelayMs: 0, firstTokenDelayMs: 0 });
  const model = uniqueName('m');
  // A long idle poll: a request found within the test was found through the doorbell.
  const worker = await f.startWorker({ models: [model], idlePollMs: 60_000 });
  for (let i = 0; i < 3; i++) {
    const caller = await f.caller();
    await f.submit(f.request(model, caller, `request ${i}`), 'interactive');
    const result = await waitFor(() => caller.results[0], { what: `result ${i} (stream rings: ${rings})`, timeoutMs: 10_000 });
    assert.ok(result.ok);
  }
  await waitFor(() => f.queueEmpty(model), { what: 'the queue to drain' });
  assert.equal((await f.jsm.consumers.info(INFERENCE_STREAM, inferenceConsumerName(model, 'interactive'))).num_pending, 0);
  await worker.stop();
});
