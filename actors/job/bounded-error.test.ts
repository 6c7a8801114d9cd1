import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJobEvent, encodeJobEvent } from '../../protocol/job-events.ts';
import type { PipelineDefinition } from '../../protocol/pipeline-definition.ts';
import { boundedError, MAX_ERROR_MESSAGE_CHARS } from './bounded-error.ts';
import { JobSimulation, TEST_DEFAULTS } from './simulation.ts';
import { foldJob } from './state.ts';

test('a short error is kept as it is; a long one is cut to the bound, marked, and never ends in half a surrogate pair', () => {
  const short = { code: 'model-error', message: 'busy' };
  assert.equal(boundedError(short), short);
  const long = boundedError({ code: 'model-error', message: 'x'.repeat(10_000) });
  assert.equal(long.message.length, MAX_ERROR_MESSAGE_CHARS);
  assert.ok(long.message.endsWith(' […]'));
  // An emoji (two UTF-16 units) straddling the cut.
  const pair = boundedError({ code: 'c', message: `${'a'.repeat(MAX_ERROR_MESSAGE_CHARS - 5)}😀${'b'.repeat(100)}` });
  assert.ok(pair.message.isWellFormed());
  assert.ok(pair.message.length <= MAX_ERROR_MESSAGE_CHARS);
});

test("a model's error text of any length is recorded within the log's bound, so the job replays from its log", () => {
  const kind = 'demo.say';
  const definition = { kind, input: { type: 'object' }, steps: [{ id: 'say', type: 'llm', prompt: { user: 'Say it' } }] };
  const s = new JobSimulation(new Map(), { ...TEST_DEFAULTS, policy: { ...TEST_DEFAULTS.policy, maxAttempts: 1 } });
  s.start({ kind, input: {}, pipeline: { kind, version: 1, definition: definition as unknown as PipelineDefinition } });
  // A model server answering with a whole HTML page as its error.
  s.answer(s.calls()[0]!, { error: `<html>${'e'.repeat(50_000)}</html>`, terminal: true });
  assert.equal(s.state.status, 'failed');
  // Every event goes through the log's codec as the actor writes and a new activation reads it.
  const entries = s.log.map(({ seq, event }) => ({ seq, event: decodeJobEvent(encodeJobEvent(event)) }));
  const replayed = foldJob(s.state.id, entries);
  assert.equal(replayed.status, 'failed');
  assert.equal(replayed.steps.get('say')?.error?.message.length, MAX_ERROR_MESSAGE_CHARS);
  assert.ok(replayed.error !== null && replayed.error.message.length <= MAX_ERROR_MESSAGE_CHARS);
});
