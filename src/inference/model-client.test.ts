/**
 * The model client over its default HTTP (undici `request` under the
 * `openai` SDK, model-http.ts) against the suite's fake model server:
 * answers, the SDK's error classes and aborts come out as they did over
 * Node's fetch, so the worker classifies failures the same way.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { APIError } from 'openai';
import { startFakeModelServer, waitFor, type FakeModelServer } from '../testing/index.ts';
import { classifyCallError } from './failure.ts';
import { OpenAiModelClient, type ModelCall, type ModelEvent } from './model-client.ts';
import type { SdkFetch } from './model-http.ts';

let server: FakeModelServer;
let client: OpenAiModelClient;

before(async () => {
  server = await startFakeModelServer();
  client = new OpenAiModelClient({ baseUrl: server.baseURL, apiKey: 'secret-key', timeoutMs: 10_000, connections: 4 });
});
after(async () => {
  await client.close();
  await server.close();
});

const call: ModelCall = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };

async function collect(events: AsyncIterable<ModelEvent>): Promise<ModelEvent[]> {
  const out: ModelEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

test('a streamed answer arrives as deltas then one done with usage, with the key and body sent as the SDK builds them', async () => {
  server.reset();
  server.configure({ respond: () => 'one two three' });
  const events = await collect(client.stream(call, new AbortController().signal));
  assert.deepEqual(events.filter((e) => e.type === 'delta').map((e) => (e.type === 'delta' ? e.text : '')), ['one ', 'two ', 'three']);
  const done = events.at(-1);
  assert.equal(done?.type, 'done');
  assert.equal(done.type === 'done' && done.finishReason, 'stop');
  assert.ok(done.type === 'done' && done.usage !== null && done.usage.completionTokens === 3);
  assert.equal(server.calls[0]?.authorization, 'Bearer secret-key');
  assert.deepEqual(server.calls[0]?.request.messages, [{ role: 'user', content: 'hi' }]);
});

test('many calls at once over a few kept-alive connections all complete', async () => {
  server.reset();
  server.configure({ respond: (r) => `echo ${r.messages.at(-1)?.content ?? ''}`, firstTokenDelayMs: 5 });
  const answers = await Promise.all(
    Array.from({ length: 12 }, async (_, i) => {
      const events = await collect(client.stream({ model: 'm', messages: [{ role: 'user', content: `q${i}` }] }, new AbortController().signal));
      return events.map((e) => (e.type === 'delta' ? e.text : '')).join('');
    }),
  );
  assert.deepEqual(answers, Array.from({ length: 12 }, (_, i) => `echo q${i}`));
});

test('a 400 is the SDK APIError with its status (terminal), a 503 is retryable', async () => {
  server.reset();
  server.failNext(1, { status: 400, message: 'too long' });
  const rejected = await collect(client.stream(call, new AbortController().signal)).catch((err: unknown) => err);
  assert.ok(rejected instanceof APIError && rejected.status === 400, String(rejected));
  assert.equal(classifyCallError(rejected, undefined).code, 'model-rejected');
  server.failNext(1, { status: 503 });
  const unavailable = await collect(client.stream(call, new AbortController().signal)).catch((err: unknown) => err);
  assert.ok(unavailable instanceof APIError && unavailable.status === 503, String(unavailable));
  assert.equal(classifyCallError(unavailable, undefined).terminal, false);
});

test('a stream the server drops midway fails retryably instead of passing for an answer', async () => {
  server.reset();
  server.configure({ respond: () => 'a b c d e f' });
  server.failNext(1, { dropAfterTokens: 2 });
  const err = await collect(client.stream(call, new AbortController().signal)).catch((e: unknown) => e);
  assert.ok(err instanceof Error, 'the call must fail');
  assert.equal(classifyCallError(err, undefined).terminal, false);
});

test('aborting mid-stream ends the call at the server and the next call still works', async () => {
  server.reset();
  server.configure({ respond: () => 'slow answer with many words', tokenDelayMs: 200 });
  const ac = new AbortController();
  const seen: ModelEvent[] = [];
  const err = await (async () => {
    for await (const e of client.stream(call, ac.signal)) {
      seen.push(e);
      ac.abort(new Error('cancelled'));
    }
  })().catch((e: unknown) => e);
  assert.ok(err instanceof Error, 'an aborted call must throw');
  assert.equal(seen.length, 1);
  await waitFor(() => server.calls[0]?.outcome === 'aborted', { what: 'the server to see the abort' });
  server.configure({ respond: () => 'fine', tokenDelayMs: 0 });
  const events = await collect(client.stream(call, new AbortController().signal));
  assert.equal(events.at(-1)?.type, 'done');
});

test('a given fetch is the one the SDK calls', async () => {
  server.reset();
  let calls = 0;
  const counting: SdkFetch = (input, init) => {
    calls += 1;
    return fetch(input, init);
  };
  const own = new OpenAiModelClient({ baseUrl: server.baseURL, apiKey: 'k', timeoutMs: 10_000, fetch: counting });
  await collect(own.stream(call, new AbortController().signal));
  await own.close();
  assert.equal(calls, 1);
});
