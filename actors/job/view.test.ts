import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobEvent } from '../../protocol/job-events.ts';
import { jobViewSchema, startJobReplySchema, VIEW_LIST_LIMIT, type JobView } from '../../protocol/job.ts';
import { encodeJson } from '../../protocol/reply.ts';
import { foldJob } from './state.ts';
import { encodeViewWithin, summarised } from './view-fit.ts';
import { jobView } from './view.ts';

const policy = { maxAttempts: 3, stepTimeoutMs: 1_000, maxParallelSteps: 2, retryBaseMs: 10, retryMaxMs: 100 };
const created: JobEvent = {
  type: 'job-created', v: 1, at: 1, kind: 'k.x', input: {}, owner: 'o', idempotencyKey: null, targetDocId: null, inputHash: 'h', priority: 'batch', model: 'm', policy,
};

/** A finished job whose steps produced outputs of these many characters of text, and whose own output is `jobOutput` characters. */
function viewWith(stepChars: Record<string, number>, jobOutput: number): JobView {
  const events: JobEvent[] = [created];
  for (const [step, chars] of Object.entries(stepChars)) {
    events.push({ type: 'step-started', v: 1, at: 2, step, activity: 'inference', attempt: 1, requestId: `r-${step}`, deadlineAt: 1_000 });
    events.push({ type: 'step-succeeded', v: 1, at: 3, step, attempt: 1, output: { text: 'x'.repeat(chars) }, usage: null, artifact: null });
  }
  events.push({ type: 'job-succeeded', v: 1, at: 4, output: { text: 'y'.repeat(jobOutput) } });
  return jobView(foldJob('j', events.map((event, i) => ({ seq: i + 1, event }))));
}

const decode = (bytes: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(bytes));

test('a view within the budget is encoded as it is, byte for byte', () => {
  const view = viewWith({ a: 1_000, b: 2_000 }, 500);
  const full = new TextEncoder().encode(JSON.stringify(view));
  assert.deepEqual(encodeViewWithin(view, full.length), full);
  assert.deepEqual(encodeViewWithin(view, Number.POSITIVE_INFINITY), full);
  const wrapped = new TextEncoder().encode(JSON.stringify({ created: true, job: view }));
  assert.deepEqual(encodeViewWithin(view, wrapped.length, (job) => ({ created: true, job })), wrapped);
});

test('a view over the budget leaves out its largest outputs first, flagged, and keeps the small ones', () => {
  const view = viewWith({ small: 100, big: 600_000, bigger: 700_000, mid: 50_000 }, 300_000);
  const budget = 900_000;
  const bytes = encodeViewWithin(view, budget);
  assert.ok(bytes.length <= budget, `${bytes.length} bytes, over ${budget}`);
  const fitted = jobViewSchema.parse(decode(bytes));
  const steps = new Map(fitted.steps.map((s) => [s.id, s]));
  // 1.65 MB of outputs: leaving out bigger (700 kB) is not enough, big (600 kB) too is.
  for (const id of ['bigger', 'big']) assert.deepEqual([steps.get(id)?.output, steps.get(id)?.outputOmitted], [null, true], id);
  assert.deepEqual(steps.get('small')?.output, { text: 'x'.repeat(100) });
  assert.equal('outputOmitted' in steps.get('small')!, false);
  assert.deepEqual(steps.get('mid')?.output, { text: 'x'.repeat(50_000) });
  assert.equal(fitted.outputOmitted, undefined);
  assert.ok(JSON.stringify(fitted.output) === JSON.stringify({ text: 'y'.repeat(300_000) }), 'the job output is kept');
  // The caller's view is not changed.
  assert.equal(view.steps.find((s) => s.id === 'big')?.outputOmitted, undefined);
});

test("the job's own output is a candidate too, and start's wrapped view fits the same way", () => {
  const view = viewWith({ a: 10_000 }, 2_000_000);
  const bytes = encodeViewWithin(view, 100_000, (job) => ({ created: false, job }));
  assert.ok(bytes.length <= 100_000);
  const reply = startJobReplySchema.parse(decode(bytes));
  assert.deepEqual([reply.created, reply.job.output, reply.job.outputOmitted], [false, null, true]);
  assert.deepEqual(reply.job.steps[0]?.output, { text: 'x'.repeat(10_000) });
});

test('when even a summarised view is over the budget, the smallest encoding is returned, over it', () => {
  const view = viewWith({ a: 5_000, b: 6_000 }, 7_000);
  const bytes = encodeViewWithin(view, 10);
  const fitted = jobViewSchema.parse(decode(bytes));
  assert.deepEqual([fitted.outputOmitted, fitted.stepsOmitted, fitted.stepCounts, fitted.steps], [true, true, { succeeded: 2 }, []]);
  assert.ok(bytes.length < 2_000);
});

/** A job with `failed` steps whose last error is `errorChars` long, and `done` steps that succeeded. */
function crowdedView(failed: number, done: number, errorChars: number): JobView {
  const events: JobEvent[] = [created];
  for (let i = 0; i < failed + done; i++) {
    const step = `fetch.${i + 1}`;
    events.push({ type: 'step-started', v: 1, at: 2, step, activity: 'service', attempt: 1, requestId: `r-${step}`, deadlineAt: null });
    if (i < failed) events.push({ type: 'step-attempt-failed', v: 1, at: 3, step, attempt: 1, error: { code: 'worker-error', message: 'e'.repeat(errorChars) }, usage: null, retryAt: null });
    else events.push({ type: 'step-succeeded', v: 1, at: 3, step, attempt: 1, output: i, usage: null, artifact: null });
  }
  return jobView(foldJob('j', events.map((event, i) => ({ seq: i + 1, event }))));
}

test('a view whose steps alone pass the budget is summarised: steps counted by status, and it fits', () => {
  // 3,000 instances, 300 of them with a 4,000-character error: about 2 MB with no output left to leave out.
  const view = crowdedView(300, 2_700, 4_000);
  const budget = 1024 * 1024 - 16 * 1024;
  assert.ok(encodeJson(view).length > budget);
  const bytes = encodeViewWithin(view, budget);
  assert.ok(bytes.length <= budget, `${bytes.length} bytes`);
  const fitted = jobViewSchema.parse(decode(bytes));
  assert.deepEqual([fitted.steps, fitted.stepsOmitted, fitted.stepCounts, fitted.listsTruncated], [[], true, { failed: 300, succeeded: 2_700 }, undefined]);
  // A view that fits keeps its steps and has no summary fields.
  const small = jobViewSchema.parse(decode(encodeViewWithin(crowdedView(3, 30, 100), budget)));
  assert.deepEqual([small.steps.length, small.stepsOmitted, small.stepCounts], [33, undefined, undefined]);
});

test('a summarised view is bounded whatever its lists hold: each is cut to VIEW_LIST_LIMIT entries, and the worst case is under 512 KiB', () => {
  // Every free text at its bound with every character escaped (six bytes each in JSON).
  const text = (chars: number): string => '\u0001'.repeat(chars);
  const many = 1_000;
  const base = crowdedView(1, 0, 4_000);
  const worst: JobView = {
    ...base,
    kind: text(64),
    owner: text(200),
    idempotencyKey: text(255),
    targetDocId: text(200),
    model: text(200),
    error: { code: text(64), message: text(4_000) },
    waitingFor: Array.from({ length: many }, () => text(128)),
    artifacts: Array.from({ length: many }, () => ({ step: text(128), name: text(200), key: text(512), contentType: text(255), bytes: Number.MAX_SAFE_INTEGER })),
    // Progress is at most ACTIVITY_LIMITS.maxProgressBytes (4 KiB) of JSON.
    serviceTasks: Array.from({ length: many }, () => ({ step: text(128), attempt: 100, workerId: text(200), claimedAt: new Date(0).toISOString(), lastHeartbeatAt: new Date(0).toISOString(), progress: 'p'.repeat(4_094) })),
    waitingForWorker: Array.from({ length: many }, () => ({ step: text(128), activity: 'service' as const, queue: text(200) })),
    pipeline: { kind: text(64), version: Number.MAX_SAFE_INTEGER },
  };
  const fitted = summarised(worst);
  for (const list of [fitted.waitingFor, fitted.artifacts, fitted.serviceTasks, fitted.waitingForWorker]) assert.equal(list.length, VIEW_LIST_LIMIT);
  assert.equal(fitted.listsTruncated, true);
  const bytes = encodeJson(fitted).length;
  assert.ok(bytes < 512 * 1024, `${bytes} bytes`);
});
