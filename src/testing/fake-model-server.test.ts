import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI, { APIError } from 'openai';
import { startFakeModelServer, type FakeModelServer } from './fake-model-server.ts';
import { waitFor } from './wait-for.ts';

let model: FakeModelServer;
let openai: OpenAI;

before(async () => {
  model = await startFakeModelServer({ respond: (r) => `answer to ${r.messages.at(-1)?.content ?? ''}` });
  openai = new OpenAI({ baseURL: model.baseURL, apiKey: 'test-key', maxRetries: 0 });
});
after(() => model.close());

const messages = [{ role: 'user' as const, content: 'the question' }];

test('streams tokens as SSE chunks and ends with a usage chunk through the real SDK', async () => {
  model.reset();
  const stream = await openai.chat.completions.create({ model: 'm', messages, stream: true, stream_options: { include_usage: true } });
  const parts: string[] = [];
  let usage: OpenAI.CompletionUsage | undefined;
  let finish: string | null | undefined;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (c?.delta.content) parts.push(c.delta.content);
    if (c?.finish_reason) finish = c.finish_reason;
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(parts.join(''), 'answer to the question');
  assert.ok(parts.length > 1, 'more than one delta');
  assert.equal(finish, 'stop');
  assert.equal(usage?.completion_tokens, parts.length);
  assert.equal(usage?.prompt_tokens, 2);
  assert.equal(model.calls[0]?.authorization, 'Bearer test-key');
  assert.equal(model.calls[0]?.outcome, 'ok');
});

test('answers non-streamed calls and caps output at max_tokens', async () => {
  model.reset();
  const res = await openai.chat.completions.create({ model: 'm', messages, max_tokens: 2 });
  assert.equal(res.choices[0]?.message.content, 'answer to ');
  assert.equal(res.choices[0]?.finish_reason, 'length');
  assert.equal(res.usage?.completion_tokens, 2);
});

test('injected failures hit the next calls, per model or sticky, then clear', async () => {
  model.reset();
  model.failNext(2, { status: 503, model: 'a' });
  model.failModel('b', { status: 400, message: 'bad prompt' });
  const status = async (m: string) => {
    try {
      await openai.chat.completions.create({ model: m, messages });
      return 200;
    } catch (err) {
      assert.ok(err instanceof APIError);
      return err.status;
    }
  };
  assert.deepEqual([await status('a'), await status('c'), await status('a'), await status('a')], [503, 200, 503, 200]);
  assert.deepEqual([await status('b'), await status('b')], [400, 400]);
  model.failModel('b', null);
  assert.equal(await status('b'), 200);
  assert.equal(model.callCount('a'), 3);
  assert.equal(model.callCount(), 7);
});

test('latency controls keep calls in flight, and a client abort is recorded', async () => {
  model.reset();
  model.configure({ tokenDelayMs: 50 });
  const ac = new AbortController();
  const calls = [0, 1, 2].map(() => openai.chat.completions.create({ model: 'm', messages, stream: true }, { signal: ac.signal }));
  await waitFor(() => model.inFlight === 3, { what: 'three calls in flight' });
  ac.abort();
  for (const call of calls) {
    // The SDK ends an aborted stream early (quietly or with an abort error).
    const drained = (async () => {
      let tokens = 0;
      for await (const chunk of await call) if (chunk.choices[0]?.delta.content) tokens += 1;
      return tokens;
    })();
    const tokens = await drained.catch(() => 0);
    assert.ok(tokens < 4, `stream stopped early (${tokens} tokens)`);
  }
  await waitFor(() => model.inFlight === 0, { what: 'calls to end' });
  assert.equal(model.maxInFlight, 3);
  assert.ok(model.calls.every((c) => c.outcome === 'aborted'));
});

const tools = [{ type: 'function' as const, function: { name: 'doc_search', parameters: { type: 'object' } } }];

test('scripted replies stream tool_calls in the OpenAI delta shape, in order, per model', async () => {
  model.reset();
  model.script([{ content: 'Looking. ', toolCalls: [{ id: 'call_a', name: 'doc_search', arguments: { query: 'tide gauge readings' } }, { name: 'doc_read', arguments: '{"docId":' }] }], { model: 'tools' });
  model.script(['second answer'], { model: 'tools' });
  const stream = await openai.chat.completions.create({ model: 'tools', messages, tools, tool_choice: 'auto', stream: true });
  const calls = new Map<number, { id?: string; name?: string; args: string; chunks: number }>();
  const text: string[] = [];
  let finish: string | null | undefined;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (c?.delta.content) text.push(c.delta.content);
    for (const d of c?.delta.tool_calls ?? []) {
      const entry = calls.get(d.index) ?? { args: '', chunks: 0 };
      if (entry.chunks === 0) assert.ok(d.id && d.function?.name, 'the first delta of a call carries its id and name');
      else assert.equal(d.id, undefined, 'later deltas carry only arguments');
      calls.set(d.index, { id: entry.id ?? d.id, name: entry.name ?? d.function?.name, args: entry.args + (d.function?.arguments ?? ''), chunks: entry.chunks + 1 });
    }
    if (c?.finish_reason) finish = c.finish_reason;
  }
  assert.equal(text.join(''), 'Looking. ');
  assert.equal(finish, 'tool_calls');
  assert.deepEqual([...calls.values()].map(({ id, name, args }) => ({ id, name, args })), [
    { id: 'call_a', name: 'doc_search', args: '{"query":"tide gauge readings"}' },
    { id: 'call_1_1', name: 'doc_read', args: '{"docId":' },
  ]);
  assert.ok((calls.get(0)?.chunks ?? 0) > 2, 'arguments arrive over several chunks');
  assert.deepEqual(model.calls[0]?.request.toolNames, ['doc_search']);
  assert.equal(model.calls[0]?.request.toolChoice, 'auto');
  assert.equal(model.scriptedLeft('tools'), 1);
  // A call for another model does not take the script meant for `tools`.
  const other = await openai.chat.completions.create({ model: 'other', messages });
  assert.equal(other.choices[0]?.message.content, 'answer to the question');
  const second = await openai.chat.completions.create({ model: 'tools', messages });
  assert.equal(second.choices[0]?.message.content, 'second answer');
  assert.equal(model.scriptedLeft(), 0);
});

test('non-streamed tool calls come back whole, and tool results are read back from the conversation', async () => {
  model.reset();
  model.configure({
    respond: (r) => {
      const last = r.messages.at(-1);
      return last?.role === 'tool' ? `got ${last.content} for ${last.toolCallId}` : { toolCalls: [{ id: 'call_x', name: 'doc_search', arguments: { query: 'q' } }] };
    },
  });
  const first = await openai.chat.completions.create({ model: 'm', messages, tools });
  const message = first.choices[0]?.message;
  assert.equal(first.choices[0]?.finish_reason, 'tool_calls');
  assert.equal(message?.content, null);
  const call = message?.tool_calls?.[0];
  assert.ok(call?.type === 'function');
  assert.deepEqual({ id: call.id, name: call.function.name, args: JSON.parse(call.function.arguments) }, { id: 'call_x', name: 'doc_search', args: { query: 'q' } });
  const followUp = await openai.chat.completions.create({
    model: 'm',
    tools,
    messages: [...messages, { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: 'call_x', content: '3 hits' }],
  });
  assert.equal(followUp.choices[0]?.message.content, 'got 3 hits for call_x');
  assert.deepEqual(model.calls[1]?.request.messages.at(-2)?.toolCalls, [{ id: 'call_x', name: 'doc_search', arguments: '{"query":"q"}' }]);
});
