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
  CHAT_LIMITS,
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
    toolCalls: [{ id: 'call_1', name: 'doc_search', arguments: '{"query":"tide"}' }],
    finishReason: 'tool_calls',
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

const toolRequest: InferenceRequest = {
  ...request,
  tools: [
    { type: 'function', function: { name: 'doc_search', description: 'search my documents', parameters: { type: 'object', properties: { query: { type: 'string' } }, required: ['query'] } } },
    { type: 'function', function: { name: 'doc_edit', parameters: { type: 'object' } } },
  ],
  toolChoice: { type: 'function', function: { name: 'doc_search' } },
  messages: [
    { role: 'system', content: 'you edit documents' },
    { role: 'user', content: 'find the tide notes' },
    { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'doc_search', arguments: '{"query":"tide"}' }] },
    { role: 'tool', toolCallId: 'call_1', content: '[{"docId":"d1"}]' },
  ],
};

test('requests with tools, tool_choice and messages of every role round-trip', () => {
  assert.deepEqual(decodeInferenceRequest(encodeInferenceRequest(toolRequest)), toolRequest);
  for (const toolChoice of ['auto', 'none', 'required'] as const) {
    assert.equal(decodeInferenceRequest(encodeInferenceRequest({ ...toolRequest, toolChoice })).toolChoice, toolChoice);
  }
});

test('malformed tool requests are refused, naming the field', () => {
  const body = (value: unknown) => ({ headers: {}, body: encodeJson(value) });
  const fn = (name: string) => ({ type: 'function' as const, function: { name } });
  const cases: Array<[string, unknown, RegExp]> = [
    ['tool name', { ...toolRequest, tools: [fn('has space')], toolChoice: 'auto' }, /tools\.0\.function\.name/],
    ['long tool name', { ...toolRequest, tools: [fn('x'.repeat(65))], toolChoice: 'auto' }, /tools\.0\.function\.name/],
    ['duplicate tools', { ...toolRequest, tools: [fn('a'), fn('a')], toolChoice: 'auto' }, /tools must have unique/],
    ['too many tools', { ...toolRequest, tools: Array.from({ length: CHAT_LIMITS.maxTools + 1 }, (_, i) => fn(`t${i}`)), toolChoice: 'auto' }, /tools/],
    ['empty tools', { ...toolRequest, tools: [], toolChoice: undefined }, /tools/],
    ['not a function tool', { ...toolRequest, tools: [{ type: 'custom', function: { name: 'a' } }] }, /tools\.0\.type/],
    ['parameters not an object', { ...toolRequest, tools: [{ type: 'function', function: { name: 'doc_search', parameters: 'x' } }] }, /parameters/],
    ['long description', { ...toolRequest, tools: [{ type: 'function', function: { name: 'doc_search', description: 'd'.repeat(CHAT_LIMITS.maxToolDescriptionChars + 1) } }] }, /description/],
    ['tool_choice without tools', { ...request, toolChoice: 'auto' }, /toolChoice needs tools/],
    ['tool_choice naming no tool', { ...toolRequest, toolChoice: fn('doc_read') }, /toolChoice\.function\.name must name one of the tools/],
    ['tool_choice unknown mode', { ...toolRequest, toolChoice: 'sometimes' }, /toolChoice/],
    ['tool message answering nothing', { ...toolRequest, messages: [{ role: 'user', content: 'x' }, { role: 'tool', toolCallId: 'call_9', content: 'r' }] }, /messages\.1\.toolCallId answers no earlier/],
    ['tool message without id', { ...toolRequest, messages: [{ role: 'tool', content: 'r' }] }, /messages\.0\.toolCallId/],
    ['call id with a space', { ...toolRequest, messages: [{ role: 'assistant', content: '', toolCalls: [{ id: 'a b', name: 'x', arguments: '{}' }] }] }, /messages\.0\.toolCalls\.0\.id/],
    ['empty toolCalls', { ...toolRequest, messages: [{ role: 'assistant', content: 'x', toolCalls: [] }] }, /messages\.0\.toolCalls/],
    ['arguments not text', { ...toolRequest, messages: [{ role: 'assistant', content: '', toolCalls: [{ id: 'c', name: 'x', arguments: { a: 1 } }] }] }, /arguments/],
    ['oversized arguments', { ...toolRequest, messages: [{ role: 'assistant', content: '', toolCalls: [{ id: 'c', name: 'x', arguments: 'a'.repeat(CHAT_LIMITS.maxToolArgumentsChars + 1) }] }] }, /arguments/],
    ['toolCalls on a user message', { ...toolRequest, messages: [{ role: 'user', content: 'x', toolCalls: [{ id: 'c', name: 'x', arguments: '{}' }] }] }, /messages\.0/],
  ];
  for (const [what, value, message] of cases) {
    assert.throws(() => decodeInferenceRequest(body(value)), (err: unknown) => err instanceof ProtocolError && err.code === 'malformed-message' && message.test(err.message), what);
    assert.throws(() => encodeInferenceRequest(value as InferenceRequest), (err: unknown) => err instanceof ProtocolError && err.code === 'malformed-message' && message.test(err.message), `encode: ${what}`);
  }
});

test('the encoder checks each message and tools array once and freezes it; new parts are still checked, naming their place', () => {
  const user = { role: 'user' as const, content: 'hello' };
  const tools = [{ type: 'function' as const, function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }];
  const first: InferenceRequest = { ...request, requestId: 'once-1', messages: [user], tools };
  encodeInferenceRequest(first);
  assert.ok(Object.isFrozen(user) && Object.isFrozen(tools) && Object.isFrozen(tools[0]?.function.parameters), 'checked parts are frozen');
  assert.throws(() => {
    (user as { content: string }).content = 'changed after the check';
  }, TypeError);
  // The same parts in the next request, beside a new message that breaks the schema.
  const long = { role: 'user' as const, content: 'x'.repeat(CHAT_LIMITS.maxMessageChars + 1) };
  assert.throws(() => encodeInferenceRequest({ ...first, requestId: 'once-2', messages: [user, long] }), /inference request: messages\.1\.content/);
  assert.throws(() => encodeInferenceRequest({ ...first, requestId: 'once-3', messages: [] }), /messages/);
  assert.throws(() => encodeInferenceRequest({ ...first, requestId: 'bad id' }), /requestId/);
  // What the encoder wrote decodes through the worker's full check.
  assert.deepEqual(decodeInferenceRequest(encodeInferenceRequest({ ...first, requestId: 'once-4' })), { ...first, requestId: 'once-4' });
});

test('results validate their tool calls, and results without any decode with none', () => {
  const ok = { requestId: 'r1', ok: true, text: 'hi', finishReason: 'stop', usage: { model: 'm', promptTokens: 1, completionTokens: 1, timeToFirstTokenMs: 1, durationMs: 1 }, attempt: 1, meta: {} };
  const wire = (value: unknown) => ({ headers: { 'Loom-Version': '1' }, body: encodeJson(value) });
  const decoded = decodeInferenceResult(wire(ok));
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.toolCalls, []);
  const tooMany = Array.from({ length: CHAT_LIMITS.maxToolCallsPerMessage + 1 }, (_, i) => ({ id: `c${i}`, name: 'x', arguments: '{}' }));
  assert.throws(() => decodeInferenceResult(wire({ ...ok, toolCalls: tooMany })), /toolCalls/);
  assert.throws(() => decodeInferenceResult(wire({ ...ok, toolCalls: [{ id: '', name: 'x', arguments: '{}' }] })), /toolCalls\.0\.id/);
  assert.throws(() => decodeInferenceResult(wire({ ...ok, toolCalls: [{ id: 'c', name: 'n'.repeat(CHAT_LIMITS.maxToolCallNameChars + 1), arguments: '{}' }] })), /toolCalls\.0\.name/);
});
