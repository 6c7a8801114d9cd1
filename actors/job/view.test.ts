import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobEvent } from '../../protocol/job-events.ts';
import { jobViewSchema, startJobReplySchema, type JobView } from '../../protocol/job.ts';
import { foldJob } from './state.ts';
import { encodeViewWithin, jobView } from './view.ts';

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

test('when leaving out every output is not enough, the smallest encoding is returned, over the budget', () => {
  const view = viewWith({ a: 5_000, b: 6_000 }, 7_000);
  const bytes = encodeViewWithin(view, 10);
  const fitted = jobViewSchema.parse(decode(bytes));
  assert.deepEqual([fitted.outputOmitted, ...fitted.steps.map((s) => s.outputOmitted)], [true, true, true]);
  assert.ok(bytes.length < 2_000);
});
