import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJobEvent, encodeJobEvent, type JobEvent } from '../../protocol/job-events.ts';
import { foldJob } from './state.ts';
import { decideStuck, stuckDueAt } from './stuck-watchdog.ts';
import { jobView } from './view.ts';

const policy = { maxAttempts: 3, stepTimeoutMs: 1_000, maxParallelSteps: 2, retryBaseMs: 10, retryMaxMs: 100 };
const created: JobEvent = {
  type: 'job-created', v: 1, at: 1_000, kind: 'k.x', input: {}, owner: 'o', idempotencyKey: null, targetDocId: null, inputHash: 'h', priority: 'batch', model: 'm', policy,
};
const started = (step: string, activity: 'inference' | 'approval', at: number): JobEvent => ({
  type: 'step-started', v: 1, at, step, activity, attempt: 1, requestId: activity === 'inference' ? `r-${step}` : null, deadlineAt: null,
});
const fold = (events: JobEvent[]) => foldJob('j', events.map((event, i) => ({ seq: i + 1, event })));
const env = (now: number) => ({ now, random: () => 0.5, pipelines: new Map(), prices: {} });

test('a running job that appended nothing for the threshold is flagged once, since its last progress', () => {
  const state = fold([created, started('a', 'inference', 2_000)]);
  assert.equal(stuckDueAt(state, 500), 2_500);
  assert.equal(decideStuck(state, env(2_499), 500).events.length, 0);
  const [event] = decideStuck(state, env(2_500), 500).events;
  assert.deepEqual(event, { type: 'job-stuck', v: 1, at: 2_500, since: 2_000, stuckAfterMs: 500 });
  assert.deepEqual(decodeJobEvent(encodeJobEvent(event!)), event);

  const stuck = fold([created, started('a', 'inference', 2_000), event!]);
  assert.equal(stuck.stuckSince, 2_000);
  assert.equal(stuck.updatedAt, 2_000, 'the flag is not progress');
  assert.equal(stuckDueAt(stuck, 500), null, 'flagged once per stall');
  assert.equal(decideStuck(stuck, env(9_000), 500).events.length, 0);
  const view = jobView(stuck);
  assert.equal(view.stuck, true);
  assert.equal(view.stuckSince, new Date(2_000).toISOString());
});

test('the next event clears the flag and the watch starts again from it', () => {
  const moved = fold([
    created,
    started('a', 'inference', 2_000),
    { type: 'job-stuck', v: 1, at: 2_500, since: 2_000, stuckAfterMs: 500 },
    { type: 'step-succeeded', v: 1, at: 3_000, step: 'a', attempt: 1, output: 'x', usage: null, artifact: null },
  ]);
  assert.equal(moved.stuckSince, null);
  assert.equal(jobView(moved).stuck, false);
  assert.equal(jobView(moved).stuckSince, null);
  assert.equal(stuckDueAt(moved, 500), 3_500);
});

test('jobs waiting only for a person, ended jobs and jobs not yet created are not watched', () => {
  assert.equal(stuckDueAt(fold([]), 500), null);
  assert.equal(stuckDueAt(fold([created, started('review', 'approval', 2_000)]), 500), null);
  const ended = fold([created, { type: 'job-succeeded', v: 1, at: 2_000, output: null }]);
  assert.equal(stuckDueAt(ended, 500), null);
  assert.equal(decideStuck(ended, env(99_000), 500).events.length, 0);
  assert.equal(stuckDueAt(fold([created]), 500), 1_500, 'a pending job is expected to start its first step');
});
