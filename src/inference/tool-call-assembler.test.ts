import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CHAT_LIMITS } from '../../protocol/inference.ts';
import { ModelOutputError } from './failure.ts';
import { checkToolCalls, ToolCallAssembler } from './tool-call-assembler.ts';

const invalidOutput = (err: unknown) => err instanceof ModelOutputError && err.code === 'invalid-output';

test('deltas join into whole calls by index, names and ids taken whole, arguments appended', () => {
  const a = new ToolCallAssembler();
  a.add({ index: 1, id: 'call_b', function: { name: 'doc_edit', arguments: '' } });
  a.add({ index: 0, id: 'call_a', function: { name: 'doc_search', arguments: '{"q"' } });
  a.add({ index: 0, function: { arguments: ':"tide"}' } });
  // A server that repeats the name on later deltas must not double it.
  a.add({ index: 1, function: { name: 'doc_edit', arguments: '{}' } });
  assert.deepEqual(a.calls(), [
    { id: 'call_a', name: 'doc_search', arguments: '{"q":"tide"}' },
    { id: 'call_b', name: 'doc_edit', arguments: '{}' },
  ]);
});

test('too many calls or oversized arguments are invalid output', () => {
  const many = new ToolCallAssembler();
  for (let i = 0; i < CHAT_LIMITS.maxToolCallsPerMessage; i++) many.add({ index: i, id: `c${i}`, function: { name: 'x' } });
  assert.throws(() => many.add({ index: CHAT_LIMITS.maxToolCallsPerMessage, id: 'c', function: { name: 'x' } }), invalidOutput);
  const long = new ToolCallAssembler();
  long.add({ index: 0, id: 'c', function: { name: 'x', arguments: 'a'.repeat(CHAT_LIMITS.maxToolArgumentsChars) } });
  assert.throws(() => long.add({ index: 0, function: { arguments: 'a' } }), invalidOutput);
});

test('missing, unusable and repeated ids are replaced by ids derived from the request, the same on every attempt', () => {
  const calls = [
    { id: '', name: 'a', arguments: '{}' },
    { id: 'has space', name: 'b', arguments: '{}' },
    { id: 'call_ok', name: 'c', arguments: '{}' },
    { id: 'call_ok', name: 'd', arguments: '{}' },
    { id: 'call_long', name: 'n'.repeat(CHAT_LIMITS.maxToolCallNameChars + 10), arguments: '{}' },
  ];
  const checked = checkToolCalls(calls, 'agent-1:turn-2:step.3');
  assert.deepEqual(checked.map((c) => c.id), ['call_0_agent-1_turn-2_step_3', 'call_1_agent-1_turn-2_step_3', 'call_ok', 'call_3_agent-1_turn-2_step_3', 'call_long']);
  assert.equal(checked[4]?.name.length, CHAT_LIMITS.maxToolCallNameChars);
  assert.deepEqual(checkToolCalls(calls, 'agent-1:turn-2:step.3'), checked);
});
