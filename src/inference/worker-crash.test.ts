/**
 * An inference worker PROCESS (Loom with LOOM_ROLES=inference) is killed with
 * SIGKILL in the middle of a streamed model call: the request comes back
 * after AckWait, another worker serves it, and the caller gets exactly one
 * result.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLoomProcess, waitFor } from '../testing/index.ts';
import { FAST, startInferenceFixture, uniqueName, type InferenceFixture } from '../testing/inference-worker-fixture.ts';

let f: InferenceFixture;
let dataDir: string;

before(async () => {
  f = await startInferenceFixture();
  dataDir = await mkdtemp(join(tmpdir(), 'loom-inference-'));
});
after(async () => {
  await f.stop();
  await rm(dataDir, { recursive: true, force: true });
});

test('SIGKILL of a worker process mid-call: the request is redelivered to another worker and the caller sees one result', async () => {
  const model = uniqueName('m');
  const answer = Array.from({ length: 40 }, (_, i) => `t${i}`).join(' ');
  f.model.configure({ respond: () => answer, tokenDelayMs: 50, firstTokenDelayMs: 0 });
  const doomed = await startLoomProcess({
    name: uniqueName('inference'),
    roles: ['inference'],
    natsUrl: f.nats.url,
    dataDir,
    env: {
      OPENAI_BASE_URL: f.model.baseURL,
      LOOM_INFERENCE_MODELS: model,
      LOOM_INFERENCE_CONCURRENCY: String(FAST.concurrency),
      LOOM_INFERENCE_MAX_DELIVER: String(FAST.maxDeliver),
      LOOM_INFERENCE_ACK_WAIT_MS: String(FAST.ackWaitMs),
    },
  });
  const caller = await f.caller();
  const request = f.request(model, caller, 'survive this');
  await f.submit(request, 'interactive');
  await waitFor(() => (f.model.calls.find((c) => c.request.model === model)?.tokensSent ?? 0) >= 3, { what: 'the first call to be streaming', timeoutMs: 20_000 });
  await doomed.kill();

  const survivor = await f.startWorker({ models: [model] });
  await waitFor(() => caller.results.length > 0, { what: 'the result', timeoutMs: 20_000 });
  const result = caller.results[0];
  assert.ok(result?.ok, JSON.stringify(result));
  assert.equal(result.text, answer);
  assert.equal(result.attempt, 2);
  // Once the queue is empty nothing can deliver again: exactly one result, two calls.
  await waitFor(() => f.queueEmpty(model), { what: 'the message to be acked' });
  assert.equal(caller.results.length, 1);
  const calls = f.model.calls.filter((c) => c.request.model === model);
  assert.deepEqual(calls.map((c) => c.outcome), ['aborted', 'ok']);
  assert.equal(caller.deltas.filter((d) => d.attempt === 2).map((d) => d.delta).join(''), answer);
  assert.ok(doomed.grep(/"msg":"inference worker started"/).length === 1);
  await survivor.stop();
});
