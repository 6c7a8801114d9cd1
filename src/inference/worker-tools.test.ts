/**
 * Tool calling through the inference worker, against a real nats-server, the
 * real `openai` SDK and the suite's fake model server: offered tools reach the
 * model, streamed `tool_calls` deltas come back as whole calls beside the
 * streamed text, a conversation with tool results goes back to the model, and
 * output that breaks the result's limits is a terminal error.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { CHAT_LIMITS, type ToolDefinition } from '../../protocol/inference.ts';
import { waitFor } from '../testing/index.ts';
import { firstResult, startInferenceFixture, uniqueName, type InferenceFixture } from '../testing/inference-worker-fixture.ts';

let f: InferenceFixture;

before(async () => {
  f = await startInferenceFixture();
});
after(() => f.stop());

const tools: ToolDefinition[] = [
  { type: 'function', function: { name: 'doc_search', description: 'search', parameters: { type: 'object', properties: { query: { type: 'string' } } } } },
  { type: 'function', function: { name: 'doc_edit', parameters: { type: 'object' } } },
];

test('streamed tool_calls deltas are assembled into whole calls beside the streamed text', async () => {
  const model = uniqueName('m');
  f.model.configure({ tokenDelayMs: 2 });
  f.model.script(
    [
      {
        content: 'Let me look that up.',
        toolCalls: [
          { id: 'call_s', name: 'doc_search', arguments: { query: 'tide gauge at Brest' } },
          // Broken JSON is delivered as the model sent it: validating it is the caller's job.
          { id: 'call_e', name: 'doc_edit', arguments: '{"text": "half' },
          { name: 'not_offered', arguments: {} },
        ],
      },
    ],
    { model },
  );
  const worker = await f.startWorker({ models: [model] });
  const caller = await f.caller();
  const request = f.request(model, caller, 'what did the gauge show?', { tools, toolChoice: 'auto' });
  await f.submit(request, 'interactive');
  const result = await firstResult(caller);
  assert.ok(result.ok, JSON.stringify(result));
  assert.equal(result.finishReason, 'tool_calls');
  assert.equal(result.text, 'Let me look that up.');
  assert.deepEqual(result.toolCalls, [
    { id: 'call_s', name: 'doc_search', arguments: '{"query":"tide gauge at Brest"}' },
    { id: 'call_e', name: 'doc_edit', arguments: '{"text": "half' },
    { id: `call_${f.model.calls.at(-1)?.seq}_2`, name: 'not_offered', arguments: '{}' },
  ]);
  // Token streaming still carries the text, and only the text.
  assert.equal(caller.deltas.map((d) => d.delta).join(''), 'Let me look that up.');
  const seen = f.model.calls.find((c) => c.request.model === model)?.request;
  assert.deepEqual(seen?.toolNames, ['doc_search', 'doc_edit']);
  assert.equal(seen?.toolChoice, 'auto');
  assert.deepEqual(seen?.body['tools'], tools);
  await worker.stop();
});

test('a conversation with tool calls and tool results reaches the model in the OpenAI shape', async () => {
  const model = uniqueName('m');
  f.model.script([(r) => `the tool said ${r.messages.at(-1)?.content ?? ''}`], { model });
  const worker = await f.startWorker({ models: [model] });
  const caller = await f.caller();
  const request = f.request(model, caller, 'unused', {
    tools,
    toolChoice: { type: 'function', function: { name: 'doc_search' } },
    messages: [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'find it' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'doc_search', arguments: '{"query":"x"}' }] },
      { role: 'tool', toolCallId: 'call_1', content: 'three hits' },
    ],
  });
  await f.submit(request, 'interactive');
  const result = await firstResult(caller);
  assert.ok(result.ok);
  assert.equal(result.text, 'the tool said three hits');
  assert.deepEqual(result.toolCalls, []);
  const body = f.model.calls.find((c) => c.request.model === model)?.request.body;
  assert.deepEqual(body?.['messages'], [
    { role: 'system', content: 'be brief' },
    { role: 'user', content: 'find it' },
    { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'doc_search', arguments: '{"query":"x"}' } }] },
    { role: 'tool', tool_call_id: 'call_1', content: 'three hits' },
  ]);
  assert.deepEqual(body?.['tool_choice'], { type: 'function', function: { name: 'doc_search' } });
  await worker.stop();
});

test('a model that makes more tool calls than a result may carry fails terminally with invalid-output', async () => {
  const model = uniqueName('m');
  const calls = Array.from({ length: CHAT_LIMITS.maxToolCallsPerMessage + 1 }, (_, i) => ({ name: 'doc_search', arguments: { i } }));
  f.model.script([{ toolCalls: calls }], { model });
  const worker = await f.startWorker({ models: [model] });
  const caller = await f.caller();
  await f.submit(f.request(model, caller, 'go', { tools }), 'interactive');
  const result = await firstResult(caller);
  assert.ok(!result.ok);
  assert.equal(result.error.code, 'invalid-output');
  assert.equal(result.error.terminal, true);
  await waitFor(() => f.queueEmpty(model), { what: 'the message to be terminated' });
  assert.equal(f.model.callCount(model), 1, 'not retried');
  await worker.stop();
});
