import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DrainedQueues } from './drained-queues.ts';

test('a queue that answered short is not asked again until its doorbell rings or the marks are forgotten', () => {
  const q = new DrainedQueues<string>();
  assert.ok(q.worthAsking('interactive') && q.worthAsking('batch'), 'unknown queues are asked');
  q.answered('interactive', 4, 1, q.ringsOf('interactive'));
  q.answered('batch', 4, 0, q.ringsOf('batch'));
  assert.ok(!q.worthAsking('interactive') && !q.worthAsking('batch'), 'both drained');
  q.rang('interactive');
  assert.ok(q.worthAsking('interactive') && !q.worthAsking('batch'), 'only the queue that rang');
  q.forget();
  assert.ok(q.worthAsking('batch'), 'forgotten: the idle poll asks every queue');
});

test('a ring during the pull, or a full answer, keeps the queue worth asking', () => {
  const q = new DrainedQueues<string>();
  const before = q.ringsOf('a');
  q.rang('a'); // published while the pull was out
  q.answered('a', 4, 0, before);
  assert.ok(q.worthAsking('a'));
  q.answered('a', 4, 4, q.ringsOf('a'));
  assert.ok(q.worthAsking('a'), 'a full answer may have left more');
});
