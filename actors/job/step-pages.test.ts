import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobEvent } from '../../protocol/job-events.ts';
import { jobStepsReplySchema } from '../../protocol/job.ts';
import { foldJob } from './state.ts';
import { encodeStepsPage } from './step-pages.ts';

const policy = { maxAttempts: 3, stepTimeoutMs: 1_000, maxParallelSteps: 50, retryBaseMs: 10, retryMaxMs: 100 };
const created: JobEvent = {
  type: 'job-created', v: 1, at: 1, kind: 'k.x', input: {}, owner: 'o', idempotencyKey: null, targetDocId: null, inputHash: 'h', priority: 'batch', model: 'm', policy,
};

/** A running job with `n` service steps `build[i]` in flight. */
function runningServiceSteps(n: number) {
  const events: JobEvent[] = [created];
  for (let i = 0; i < n; i++) {
    events.push({ type: 'step-started', v: 1, at: 2, step: `build[${i}]`, activity: 'service', attempt: 1, requestId: `r-${i}`, deadlineAt: 1_000 });
  }
  return foldJob('j', events.map((event, i) => ({ seq: i + 1, event })));
}

test('every step of a page says which worker holds its service task and whether its queue has no worker, past what a summarised view lists', () => {
  const state = runningServiceSteps(30);
  const serviceTasks = Array.from({ length: 25 }, (_, i) => ({
    step: `build[${i}]`, attempt: 1, workerId: `w-${i}`, claimedAt: '2026-12-07T00:00:00.000Z', lastHeartbeatAt: '2026-12-07T00:00:01.000Z', progress: { pct: i },
  }));
  const waitingForWorker = Array.from({ length: 5 }, (_, i) => ({ step: `build[${25 + i}]`, activity: 'service' as const, queue: 'builds' }));
  const page = jobStepsReplySchema.parse(JSON.parse(new TextDecoder().decode(encodeStepsPage(state, { offset: 0, limit: 100 }, Number.POSITIVE_INFINITY, { serviceTasks, waitingForWorker }))));
  assert.equal(page.steps.length, 30);
  const byId = new Map(page.steps.map((s) => [s.id, s]));
  assert.deepEqual(byId.get('build[24]')?.serviceTask, { attempt: 1, workerId: 'w-24', claimedAt: '2026-12-07T00:00:00.000Z', lastHeartbeatAt: '2026-12-07T00:00:01.000Z', progress: { pct: 24 } });
  assert.equal(byId.get('build[24]')?.waitingForWorker, null);
  assert.deepEqual(byId.get('build[29]')?.waitingForWorker, { activity: 'service', queue: 'builds' });
  assert.equal(byId.get('build[29]')?.serviceTask, null);
  assert.equal(page.steps.filter((s) => s.serviceTask !== null).length, 25, 'all 25 held tasks, where a summarised view keeps 20');
});

test('without live state (an older caller) every step says null for both', () => {
  const page = jobStepsReplySchema.parse(JSON.parse(new TextDecoder().decode(encodeStepsPage(runningServiceSteps(2), { offset: 0, limit: 10 }, Number.POSITIVE_INFINITY))));
  assert.deepEqual(page.steps.map((s) => [s.serviceTask, s.waitingForWorker]), [[null, null], [null, null]]);
});
