import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJobEvent, encodeJobEvent, type JobEvent } from '../../protocol/job-events.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { emptyJobState, evolve, foldJob } from './state.ts';

const policy = { maxAttempts: 3, stepTimeoutMs: 1_000, maxParallelSteps: 2, retryBaseMs: 10, retryMaxMs: 100 };
const created: JobEvent = {
  type: 'job-created', v: 1, at: 1, kind: 'k.x', input: {}, owner: 'o', idempotencyKey: null, targetDocId: null, inputHash: 'h', priority: 'batch', model: 'm', policy,
};
const started = (step: string, activity: 'inference' | 'approval', at: number): JobEvent => ({
  type: 'step-started', v: 1, at, step, activity, attempt: 1, requestId: activity === 'inference' ? `r-${step}` : null, deadlineAt: activity === 'approval' ? null : at + 1_000,
});

function fold(events: JobEvent[]) {
  return foldJob('j', events.map((event, i) => ({ seq: (i + 1) * 7, event })));
}

test('status follows the steps: running while work runs, waiting while only approvals wait', () => {
  assert.equal(fold([created]).status, 'pending');
  assert.equal(fold([created, started('a', 'inference', 2)]).status, 'running');
  assert.equal(fold([created, started('a', 'inference', 2), started('b', 'approval', 2)]).status, 'running');
  const waiting = fold([
    created,
    started('a', 'inference', 2),
    started('b', 'approval', 2),
    { type: 'step-succeeded', v: 1, at: 3, step: 'a', attempt: 1, output: 'x', usage: null, artifact: null },
  ]);
  assert.equal(waiting.status, 'waiting-approval');
  assert.equal(waiting.lastSeq, 28);
  assert.equal(waiting.updatedAt, 3);
});

test('a failed attempt with a retry time waits; without one the step has failed', () => {
  const fail = (retryAt: number | null): JobEvent => ({
    type: 'step-attempt-failed', v: 1, at: 5, step: 'a', attempt: 1, error: { code: 'x', message: 'y' }, usage: null, retryAt,
  });
  const retrying = fold([created, started('a', 'inference', 2), fail(50)]);
  assert.equal(retrying.steps.get('a')!.status, 'retry-wait');
  assert.equal(retrying.steps.get('a')!.retryAt, 50);
  assert.equal(retrying.status, 'running');
  assert.equal(fold([created, started('a', 'inference', 2), fail(null)]).steps.get('a')!.status, 'failed');
});

test('when a job ends, its running and waiting steps are cancelled', () => {
  const s = fold([created, started('a', 'inference', 2), started('b', 'approval', 2), { type: 'job-cancelled', v: 1, at: 9, by: 'o', reason: null }]);
  assert.equal(s.status, 'cancelled');
  assert.deepEqual([...s.steps.values()].map((x) => x.status), ['cancelled', 'cancelled']);
  assert.equal(s.finishedAt, 9);
});

test('a log that contradicts the rules is refused', () => {
  assert.throws(() => fold([created, created]), /created twice/);
  assert.throws(() => evolve(emptyJobState('j'), { type: 'step-succeeded', v: 1, at: 1, step: 'a', attempt: 1, output: null, usage: null, artifact: null }, 1), /never started/);
});

test('events round-trip through their codec, and malformed ones name the fault', () => {
  const e = started('a', 'inference', 2);
  assert.deepEqual(decodeJobEvent(encodeJobEvent(e)), e);
  const bad = (value: unknown) => () => decodeJobEvent(new TextEncoder().encode(JSON.stringify(value)));
  assert.throws(bad({ ...e, v: 2 }), (err: unknown) => err instanceof ProtocolError && err.code === 'malformed-message');
  assert.throws(bad({ ...e, type: 'step-exploded' }), ProtocolError);
  assert.throws(bad({ ...e, attempt: 0 }), /attempt/);
});

test('folding a long log does not copy every step per event, and earlier states keep their own steps', () => {
  const n = 4_000;
  const events: JobEvent[] = [created];
  for (let i = 0; i < n; i++) {
    events.push(started(`m.${i}`, 'inference', 2));
    events.push({ type: 'step-succeeded', v: 1, at: 3, step: `m.${i}`, attempt: 1, output: i, usage: null, artifact: null });
  }
  const half = fold(events.slice(0, n));
  // Map.prototype.set counts the entries written: a copy of the whole map per event was n² of them (16,000,000 here).
  const set = Map.prototype.set;
  let sets = 0;
  Map.prototype.set = function (this: Map<unknown, unknown>, key: unknown, value: unknown) {
    sets++;
    return set.call(this, key, value);
  };
  let state;
  try {
    state = fold(events);
  } finally {
    Map.prototype.set = set;
  }
  assert.ok(sets < 2_000_000, `${sets} map entries written to fold ${events.length} events`);
  assert.equal(state.steps.size, n);
  assert.equal(state.status, 'running');
  assert.deepEqual([...state.steps.keys()].slice(0, 3), ['m.0', 'm.1', 'm.2'], 'steps stay in start order');
  assert.ok([...state.steps.values()].every((s, i) => s.status === 'succeeded' && s.output === i));
  assert.equal(half.steps.size, n / 2, 'a state folded earlier is not changed by later events');
  assert.ok([...half.steps.values()].every((s) => s.status === 'succeeded' || s.status === 'running'));
  assert.equal(half.steps.get(`m.${n / 2 - 1}`)?.status, 'running');
});
