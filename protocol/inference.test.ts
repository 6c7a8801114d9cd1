import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from './errors.ts';
import {
  cancelKey,
  decodeDeadLetter,
  decodeInferenceRequest,
  decodeInferenceResult,
  decodeTokenDelta,
  deadLetterSubject,
  encodeDeadLetter,
  encodeInferenceRequest,
  encodeInferenceResult,
  encodeTokenDelta,
  inferenceConsumerName,
  inferenceRequestSubject,
  INFERENCE_LIMITS,
  modelToToken,
  parseDeadLetterSubject,
  parseInferenceRequestSubject,
  tokenToModel,
  type InferenceRequest,
} from './inference.ts';
import { encodeJson } from './reply.ts';

const request: InferenceRequest = {
  requestId: 'job-1:outline:1',
  model: 'Qwen/Qwen2.5-7B-Instruct',
  messages: [
    { role: 'system', content: 'be brief' },
    { role: 'user', content: 'hello' },
  ],
  maxTokens: 64,
  responseFormat: 'json',
  replyTo: { kind: 'job', id: 'job-1', command: 'inference-result' },
  tokensTo: { kind: 'job', id: 'job-1', event: 'tokens' },
  meta: { step: 'outline', attempt: 1 },
};

const isCode = (code: string) => (err: unknown) => err instanceof ProtocolError && err.code === code;

test('model names round-trip through subject tokens, plain names unchanged', () => {
  for (const model of ['llama3', 'qwen2_5-7b', 'Qwen/Qwen2.5-7B-Instruct', 'org:model.v1', 'modèle']) {
    const token = modelToToken(model);
    assert.match(token, /^=?[A-Za-z0-9_-]+$/);
    assert.equal(tokenToModel(token), model);
  }
  assert.equal(modelToToken('llama3'), 'llama3');
  assert.throws(() => modelToToken('has space'), isCode('malformed-message'));
  assert.throws(() => modelToToken('x'.repeat(129)), isCode('malformed-message'));
});

test('request subjects invert and reject what they do not build', () => {
  const subject = inferenceRequestSubject('Qwen/Qwen2.5-7B-Instruct', 'interactive');
  assert.equal(subject.split('.').length, 4);
  assert.deepEqual(parseInferenceRequestSubject(subject), { model: 'Qwen/Qwen2.5-7B-Instruct', priority: 'interactive' });
  assert.equal(inferenceRequestSubject('m1', 'batch'), 'inference.request.m1.batch');
  for (const bad of ['inference.request.m1.urgent', 'inference.request.m1', 'inference.dead.m1', 'inference.request.=!!.batch', 'inference.request.m1.batch.x']) {
    assert.throws(() => parseInferenceRequestSubject(bad), isCode('invalid-subject'), bad);
  }
  assert.deepEqual(parseDeadLetterSubject(deadLetterSubject('a/b')), { model: 'a/b' });
  assert.match(inferenceConsumerName('a/b', 'batch'), /^inference_=[A-Za-z0-9_-]+_batch$/);
});

test('cancel keys are KV-safe for every valid requestId', () => {
  assert.equal(cancelKey('abc_1-2'), 'abc_1-2');
  assert.match(cancelKey('job-1:step.2'), /^=[A-Za-z0-9_-]+$/);
  assert.throws(() => cancelKey('bad id'), isCode('malformed-message'));
});

test('a request round-trips with its version and dedup headers', () => {
  const wire = encodeInferenceRequest(request);
  assert.equal(wire.headers['Loom-Version'], '1');
  assert.equal(wire.headers['Nats-Msg-Id'], request.requestId);
  assert.deepEqual(decodeInferenceRequest(wire), request);
});

test('malformed requests are refused with the reason', () => {
  const body = (value: unknown) => ({ headers: {}, body: encodeJson(value) });
  const cases: Array<[string, unknown]> = [
    ['requestId', { ...request, requestId: 'has space' }],
    ['messages', { ...request, messages: [] }],
    ['role', { ...request, messages: [{ role: 'tool', content: 'x' }] }],
    ['replyTo', { ...request, replyTo: { kind: 'doc', id: 'x', command: 'r' } }],
    ['command', { ...request, replyTo: { kind: 'job', id: 'x', command: 'Bad.Command' } }],
    ['maxTokens', { ...request, maxTokens: 0 }],
    ['unknown key', { ...request, extra: true }],
  ];
  for (const [what, value] of cases) assert.throws(() => decodeInferenceRequest(body(value)), isCode('malformed-message'), what);
  assert.throws(() => decodeInferenceRequest({ headers: {}, body: new TextEncoder().encode('{nope') }), isCode('malformed-message'));
  assert.throws(() => decodeInferenceRequest({ headers: { 'Loom-Version': '2' }, body: encodeJson(request) }), isCode('unsupported-version'));
  assert.throws(() => decodeInferenceRequest({ headers: {}, body: new Uint8Array(INFERENCE_LIMITS.maxBodyBytes + 1) }), isCode('malformed-message'));
  assert.throws(() => encodeInferenceRequest({ ...request, model: '' }), isCode('malformed-message'));
});

test('results, token deltas and dead letters round-trip', () => {
  const ok = {
    requestId: 'r1',
    ok: true as const,
    text: 'hi',
    finishReason: 'stop',
    usage: { model: 'm', promptTokens: 3, completionTokens: 1, timeToFirstTokenMs: 5, durationMs: 9 },
    attempt: 1,
    meta: { step: 's' },
  };
  assert.deepEqual(decodeInferenceResult(encodeInferenceResult(ok)), ok);
  const failed = { requestId: 'r1', ok: false as const, error: { code: 'cancelled' as const, message: 'x', terminal: true }, attempt: 2, meta: {} };
  assert.deepEqual(decodeInferenceResult(encodeInferenceResult(failed)), failed);
  const delta = { requestId: 'r1', index: 0, delta: 'he', attempt: 1, meta: {} };
  assert.deepEqual(decodeTokenDelta(encodeTokenDelta(delta)), delta);
  const letter = { request, priority: 'batch' as const, cause: { code: 'model-unavailable', message: '503' }, attempts: 3, deadLetteredAt: new Date(0).toISOString() };
  const wire = encodeDeadLetter(letter);
  assert.equal(wire.headers['Nats-Msg-Id'], `dead:${request.requestId}`);
  assert.deepEqual(decodeDeadLetter(wire), letter);
});
