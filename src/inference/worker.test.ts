/**
 * The inference worker against a real nats-server, the real `openai` SDK and
 * the suite's fake model server: results and tokens reach the calling actor,
 * priorities, the concurrency bound, retries, terminal errors, dead letters,
 * cancellation and malformed messages.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { headers as natsHeaders } from '@nats-io/transport-node';
import {
  decodeDeadLetter,
  deadLetterSubject,
  INFERENCE_DLQ_STREAM,
  INFERENCE_STREAM,
  inferenceConsumerName,
  inferenceRequestSubject,
} from '../../protocol/inference.ts';
import { encodeJson } from '../../protocol/reply.ts';
import { waitFor } from '../testing/index.ts';
import { pullNoWait } from './no-wait-pull.ts';
import { cancelInference } from './submit.ts';
import { firstResult, startInferenceFixture, uniqueName, type InferenceFixture } from '../testing/inference-worker-fixture.ts';

let f: InferenceFixture;

before(async () => {
  f = await startInferenceFixture();
});
after(() => f.stop());

const words = (n: number) => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');

test('a request streams its tokens and delivers one result with usage accounting to the calling actor', async () => {
  const model = uniqueName('m');
  f.model.configure({ respond: () => 'the quick brown fox', tokenDelayMs: 5, firstTokenDelayMs: 30 });
  const worker = await f.startWorker({ models: [model] });
  const caller = await f.caller();
  const request = f.request(model, caller, 'say it');
  await f.submit(request, 'interactive');
  const result = await firstResult(caller);
  assert.ok(result?.ok, JSON.stringify(result));
  assert.equal(result.requestId, request.requestId);
  assert.equal(result.text, 'the quick brown fox');
  assert.equal(result.finishReason, 'stop');
  assert.deepEqual(result.meta, { step: 'test' });
  assert.equal(result.usage.model, model);
  assert.equal(result.usage.promptTokens, 2);
  assert.equal(result.usage.completionTokens, 4);
  assert.ok(result.usage.timeToFirstTokenMs >= 30, `ttft ${result.usage.timeToFirstTokenMs}`);
  assert.ok(result.usage.durationMs >= result.usage.timeToFirstTokenMs);
  // Deltas are published before the result is delivered, on one connection: all are here.
  assert.deepEqual(caller.deltas.map((d) => d.index), [0, 1, 2, 3]);
  assert.equal(caller.deltas.map((d) => d.delta).join(''), 'the quick brown fox');
  assert.ok(caller.deltas.every((d) => d.requestId === request.requestId && d.attempt === 1));
  await waitFor(() => f.queueEmpty(model), { what: 'the message to be acked' });
  // The same requestId again within the window is dropped by JetStream, not served twice.
  await f.submit(request, 'interactive');
  assert.equal(f.model.callCount(model), 1);
  await worker.stop();
});

test('interactive requests are served before batch ones queued earlier', async () => {
  const model = uniqueName('m');
  f.model.configure({ respond: (r) => `re ${r.messages[0]?.content ?? ''}`, tokenDelayMs: 0, firstTokenDelayMs: 0 });
  const caller = await f.caller();
  for (const i of [1, 2, 3]) await f.submit(f.request(model, caller, `batch-${i}`), 'batch');
  for (const i of [1, 2, 3]) await f.submit(f.request(model, caller, `interactive-${i}`), 'interactive');
  const worker = await f.startWorker({ models: [model], concurrency: 1 });
  await waitFor(() => caller.results.length === 6, { what: 'six results' });
  const order = f.model.calls.filter((c) => c.request.model === model).map((c) => c.request.messages[0]?.content);
  assert.deepEqual(order, ['interactive-1', 'interactive-2', 'interactive-3', 'batch-1', 'batch-2', 'batch-3']);
  await worker.stop();
});

test('never more calls in flight than the concurrency limit, across all served models', async () => {
  const [a, b] = [uniqueName('m'), uniqueName('m')];
  f.model.reset();
  f.model.configure({ respond: () => words(4), tokenDelayMs: 15, firstTokenDelayMs: 10 });
  const worker = await f.startWorker({ models: [a, b], concurrency: 3 });
  const caller = await f.caller();
  for (let i = 0; i < 12; i++) await f.submit(f.request(i % 2 === 0 ? a : b, caller, `q${i}`), i % 3 === 0 ? 'interactive' : 'batch');
  await waitFor(() => caller.results.length === 12, { what: 'twelve results', timeoutMs: 20_000 });
  assert.ok(caller.results.every((r) => r.ok));
  assert.equal(f.model.maxInFlight, 3, 'the limit is reached and never passed');
  assert.ok(worker.inFlight <= 3);
  await worker.stop();
});

test('a retryable failure is redelivered with backoff and then succeeds', async () => {
  const model = uniqueName('m');
  f.model.configure({ respond: () => 'finally', tokenDelayMs: 0, firstTokenDelayMs: 0 });
  f.model.failNext(1, { status: 503, model });
  f.model.failNext(1, { status: 429, model });
  const worker = await f.startWorker({ models: [model], maxDeliver: 5 });
  const caller = await f.caller();
  await f.submit(f.request(model, caller, 'retry me'));
  const result = await firstResult(caller);
  assert.ok(result?.ok);
  assert.equal(result.text, 'finally');
  assert.equal(result.attempt, 3);
  const calls = f.model.calls.filter((c) => c.request.model === model);
  assert.deepEqual(calls.map((c) => c.status), [503, 429, 200]);
  // Backoff of attempt n is at least initialMs * 2^(n-1) / 2 (jitter keeps the upper half).
  const gaps = calls.slice(1).map((c, i) => c.startedAt - (calls[i]?.startedAt ?? 0));
  assert.ok((gaps[0] ?? 0) >= 50 && (gaps[1] ?? 0) >= 100, `gaps ${gaps.join(', ')}`);
  await waitFor(() => f.queueEmpty(model), { what: 'the message to be acked' });
  await worker.stop();
});

test('a 400 from the model server is terminal: reported once, terminated, not retried', async () => {
  const model = uniqueName('m');
  f.model.failModel(model, { status: 400, message: 'prompt too long' });
  const worker = await f.startWorker({ models: [model] });
  const caller = await f.caller();
  await f.submit(f.request(model, caller, 'too long'));
  const result = await firstResult(caller);
  assert.ok(result !== undefined && !result.ok);
  assert.equal(result.error.code, 'model-rejected');
  assert.equal(result.error.terminal, true);
  assert.match(result.error.message, /400/);
  await waitFor(() => f.queueEmpty(model), { what: 'the message to be terminated' });
  assert.equal(f.model.callCount(model), 1);
  f.model.failModel(model, null);
  await worker.stop();
});

test('a request that keeps failing is dead-lettered: DLQ holds it, the queue is empty, the caller is told', async () => {
  const model = uniqueName('m');
  f.model.failModel(model, { status: 503 });
  const worker = await f.startWorker({ models: [model], maxDeliver: 3 });
  const caller = await f.caller();
  const request = f.request(model, caller, 'doomed');
  await f.submit(request);
  const result = await firstResult(caller);
  assert.ok(result !== undefined && !result.ok);
  assert.equal(result.error.code, 'dead-lettered');
  assert.equal(result.error.terminal, true);
  assert.match(result.error.message, /503/);
  assert.equal(f.model.callCount(model), 3);
  await waitFor(() => f.queueEmpty(model), { what: 'the original to leave the work queue' });
  const stored = await f.jsm.streams.getMessage(INFERENCE_DLQ_STREAM, { last_by_subj: deadLetterSubject(model) });
  assert.ok(stored !== null);
  const letter = decodeDeadLetter({ headers: { 'Loom-Version': stored.header.get('Loom-Version') }, body: stored.data });
  assert.deepEqual(letter.request, request);
  assert.equal(letter.attempts, 3);
  assert.equal(letter.priority, 'batch');
  assert.equal(letter.cause.code, 'model-unavailable');
  f.model.failModel(model, null);
  await worker.stop();
});

test('a request cancelled before it starts never reaches the model', async () => {
  const model = uniqueName('m');
  const worker = await f.startWorker({ models: [model] });
  const caller = await f.caller();
  const request = f.request(model, caller, 'never mind');
  await cancelInference(f.cancels, request.requestId);
  await f.submit(request);
  const result = await firstResult(caller);
  assert.ok(result !== undefined && !result.ok);
  assert.equal(result.error.code, 'cancelled');
  assert.equal(f.model.callCount(model), 0);
  await waitFor(() => f.queueEmpty(model), { what: 'the message to be terminated' });
  await worker.stop();
});

test('a request cancelled mid-stream aborts the model call and is reported cancelled', async () => {
  const model = uniqueName('m');
  f.model.configure({ respond: () => words(200), tokenDelayMs: 30, firstTokenDelayMs: 0 });
  const worker = await f.startWorker({ models: [model] });
  const caller = await f.caller();
  const request = f.request(model, caller, 'long one');
  await f.submit(request, 'interactive');
  await waitFor(() => caller.deltas.length >= 2, { what: 'tokens to flow' });
  await cancelInference(f.cancels, request.requestId);
  const result = await firstResult(caller);
  assert.ok(result !== undefined && !result.ok);
  assert.equal(result.error.code, 'cancelled');
  await waitFor(() => f.model.calls.find((c) => c.request.model === model)?.outcome === 'aborted', { what: 'the call to be aborted' });
  assert.ok((f.model.calls.find((c) => c.request.model === model)?.tokensSent ?? 200) < 200);
  await waitFor(() => f.queueEmpty(model), { what: 'the message to be terminated' });
  assert.equal(f.model.callCount(model), 1);
  await worker.stop();
});

test('malformed work-queue messages are terminated and the worker keeps serving', async () => {
  const model = uniqueName('m');
  f.model.configure({ respond: () => 'still here', tokenDelayMs: 0, firstTokenDelayMs: 0 });
  const worker = await f.startWorker({ models: [model] });
  const caller = await f.caller();
  const subject = inferenceRequestSubject(model, 'batch');
  const v2 = natsHeaders();
  v2.set('Loom-Version', '2');
  await f.js.publish(subject, new TextEncoder().encode('{not json'));
  await f.js.publish(subject, encodeJson(f.request(model, caller, 'future')), { headers: v2 });
  await f.js.publish(subject, encodeJson({ requestId: 'x' }));
  // Well-formed, but for another model than its subject's: the caller is told.
  const misrouted = f.request('other-model', caller, 'misrouted');
  await f.js.publish(subject, encodeJson(misrouted));
  const good = f.request(model, caller, 'fine');
  await f.submit(good);
  await waitFor(() => caller.results.length === 2, { what: 'two results' });
  const byId = new Map(caller.results.map((r) => [r.requestId, r]));
  const bad = byId.get(misrouted.requestId);
  assert.ok(bad !== undefined && !bad.ok && bad.error.code === 'invalid-request');
  const ok = byId.get(good.requestId);
  assert.ok(ok?.ok && ok.text === 'still here');
  await waitFor(() => f.queueEmpty(model), { what: 'every message to leave the queue' });
  assert.equal(f.model.callCount(model), 1);
  await worker.stop();
});

test('a last attempt that vanished mid-call is dead-lettered on the spare delivery, without calling the model', async () => {
  const model = uniqueName('m');
  // maxDeliver 1: the consumer allows a second, spare delivery for exactly this case.
  const worker = await f.startWorker({ models: [model], maxDeliver: 1 });
  await worker.stop();
  const caller = await f.caller();
  const request = f.request(model, caller, 'orphaned');
  await f.submit(request);
  // A "worker" takes the only attempt and dies without a word.
  const taken = await waitFor(
    async () => (await pullNoWait(f.nc, { apiPrefix: '$JS.API', stream: INFERENCE_STREAM, consumer: inferenceConsumerName(model, 'batch') }, 1, 2_000))[0],
    { what: 'the first delivery' },
  );
  assert.equal(taken.deliveryCount, 1);
  const survivor = await f.startWorker({ models: [model], maxDeliver: 1 });
  const result = await waitFor(() => caller.results[0], { what: 'the result', timeoutMs: 15_000 });
  assert.ok(!result.ok);
  assert.equal(result.error.code, 'dead-lettered');
  assert.match(result.error.message, /without an outcome/);
  assert.equal(f.model.callCount(model), 0);
  await waitFor(() => f.queueEmpty(model), { what: 'the original to leave the work queue' });
  const stored = await f.jsm.streams.getMessage(INFERENCE_DLQ_STREAM, { last_by_subj: deadLetterSubject(model) });
  assert.equal(decodeDeadLetter({ headers: {}, body: stored?.data ?? new Uint8Array() }).cause.code, 'attempt-lost');
  await survivor.stop();
});

test('a worker stopped mid-call hands the request back at once, and another worker completes it', async () => {
  const model = uniqueName('m');
  f.model.configure({ respond: () => words(100), tokenDelayMs: 30, firstTokenDelayMs: 0 });
  const leaving = await f.startWorker({ models: [model], drainTimeoutMs: 100 });
  const caller = await f.caller();
  await f.submit(f.request(model, caller, 'handover'), 'interactive');
  await waitFor(() => caller.deltas.length >= 2, { what: 'tokens to flow' });
  await leaving.stop();
  assert.equal(caller.results.length, 0);
  f.model.configure({ tokenDelayMs: 0 });
  const staying = await f.startWorker({ models: [model] });
  const result = await waitFor(() => caller.results[0], { what: 'the result' });
  assert.ok(result.ok);
  assert.equal(result.attempt, 2);
  assert.deepEqual(f.model.calls.filter((c) => c.request.model === model).map((c) => c.outcome), ['aborted', 'ok']);
  await staying.stop();
});
