import { test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { ProtocolError } from '../../protocol/errors.ts';
import { decideActivityDone } from './engine.ts';
import { definePipeline, step, type AnyPipeline, type StepSpec } from './pipeline.ts';
import { JobSimulation, TEST_DEFAULTS } from './simulation.ts';
import { parseSchemaOutput } from './definitions/activities.ts';
import { InvalidModelOutputError } from './structured-output.ts';
import { foldJob } from './state.ts';
import { jobView, needsHost } from './view.ts';

const PLAN_SCHEMA = { type: 'object', required: ['items'], properties: { items: { type: 'array', minItems: 1, items: { type: 'string' } } } };

/** plan (json) -> item-1..n in parallel -> join (tool) -> save (artifact); optionally an approval after plan. */
const testPipeline = definePipeline<{ n: number; approve: boolean }>({
  kind: 'test.fanout',
  description: 'test',
  input: z.object({ n: z.number().int().min(1).max(10), approve: z.boolean().default(false) }).strict(),
  steps(ctx) {
    const specs: StepSpec<{ n: number; approve: boolean }>[] = [
      step('plan', [], 'inference', () => ({
        type: 'inference',
        responseFormat: 'json',
        messages: [{ role: 'system', content: 'Task: test.fanout/plan' }],
        parse: (text) => parseSchemaOutput(text, PLAN_SCHEMA, 'plan'),
      })),
    ];
    if (ctx.input.approve) specs.push(step('approve', ['plan'], 'approval', () => ({ type: 'approval' })));
    if (ctx.has('plan')) {
      const items = ctx.output('plan', z.object({ items: z.array(z.string()) })).items.slice(0, ctx.input.n);
      const gate = ctx.input.approve ? 'approve' : 'plan';
      items.forEach((item, i) =>
        specs.push(
          step(`item-${i + 1}`, [gate], 'inference', () => ({
            type: 'inference',
            messages: [{ role: 'system', content: `Task: test.fanout/item ${item}` }],
            parse: (text) => {
              if (text === 'bad') throw new InvalidModelOutputError('item: bad');
              return text;
            },
          })),
        ),
      );
      const ids = items.map((_, i) => `item-${i + 1}`);
      specs.push(step('join', ids, 'tool', (c) => ({ type: 'tool', run: () => ids.map((id) => c.output(id, z.string())).join('+') })));
      specs.push(step('save', ['join'], 'artifact', (c) => ({ type: 'artifact', name: 'out.txt', contentType: 'text/plain', body: c.output('join', z.string()) })));
    }
    return specs;
  },
  result: (ctx) => ({ joined: ctx.output('join', z.string()) }),
});

const pipelines: ReadonlyMap<string, AnyPipeline> = new Map([[testPipeline.kind, testPipeline]]);
const PLAN = JSON.stringify({ items: ['a', 'b', 'c', 'd', 'e', 'f'] });

function sim(): JobSimulation {
  return new JobSimulation(pipelines, { ...TEST_DEFAULTS, policy: { ...TEST_DEFAULTS.policy, maxParallelSteps: 2 } });
}

test('a job runs its DAG to completion: plan, bounded fan-out, tool, artifact', () => {
  const s = sim();
  assert.deepEqual(s.start({ kind: 'test.fanout', input: { n: 5 } }), { created: true });
  assert.equal(s.state.status, 'running');
  assert.equal(s.calls().length, 1);
  s.answer(s.calls()[0]!, PLAN);
  // Parallelism is bounded: two items in flight, the rest wait for a slot.
  assert.deepEqual(s.calls().map((c) => c.meta.step), ['item-1', 'item-2']);
  let maxInFlight = 0;
  s.run((call) => {
    maxInFlight = Math.max(maxInFlight, s.calls().length);
    return `x${call.meta.step.slice(5)}`;
  });
  assert.ok(maxInFlight <= 2, `at most 2 calls in flight, saw ${maxInFlight}`);
  assert.equal(s.state.status, 'succeeded');
  assert.deepEqual(s.state.output, { joined: 'x1+x2+x3+x4+x5' });
  const view = jobView(s.state);
  assert.equal(view.artifacts.length, 1);
  assert.equal(view.usage.calls, 6);
  assert.equal(view.usage.promptTokens, 60);
  // 6 calls x (10 prompt x $1 + 20 completion x $2) per million tokens
  assert.equal(view.usage.costUsd, 6 * 50 / 1_000_000);
  assert.equal(needsHost(s.state), false);
});

test('the fold of the log is the live state (rebuild = replay)', () => {
  const s = sim();
  s.start({ kind: 'test.fanout', input: { n: 3 } });
  s.run(() => PLAN);
  const rebuilt = foldJob(s.state.id, s.log);
  assert.deepEqual(jobView(rebuilt), jobView(s.state));
});

test('an invalid structured answer is a failed attempt, retried with backoff, never a result', () => {
  const s = sim();
  s.start({ kind: 'test.fanout', input: { n: 1 } });
  const first = s.calls()[0]!;
  s.answer(first, '{"items": "not a list"}');
  const plan = s.state.steps.get('plan')!;
  assert.equal(plan.status, 'retry-wait');
  assert.equal(plan.error?.code, 'invalid-output');
  assert.ok(plan.retryAt! > s.now, 'the retry waits');
  assert.equal(plan.calls.length, 1, 'the failed attempt still used tokens');
  assert.equal(s.calls().length, 0, 'nothing runs during the backoff');
  s.fireNextTimer();
  const retry = s.calls()[0]!;
  assert.equal(retry.meta.attempt, 2);
  assert.notEqual(retry.requestId, first.requestId, 'each attempt has its own request id');
  s.answer(retry, PLAN);
  assert.equal(s.state.steps.get('plan')!.status, 'succeeded');
});

test('a step that keeps failing fails the job after its last attempt and stops what is in flight', () => {
  const s = sim();
  s.start({ kind: 'test.fanout', input: { n: 2 } });
  s.answer(s.calls()[0]!, PLAN);
  const delays: number[] = [];
  for (let attempt = 1; attempt <= TEST_DEFAULTS.policy.maxAttempts; attempt++) {
    const call = s.calls().find((c) => c.meta.step === 'item-1')!;
    assert.equal(call.meta.attempt, attempt);
    s.answer(call, { error: 'model overloaded' });
    const item = s.state.steps.get('item-1')!;
    if (item.retryAt !== null) {
      delays.push(item.retryAt - s.now);
      s.advance(item.retryAt);
    }
  }
  assert.equal(delays.length, TEST_DEFAULTS.policy.maxAttempts - 1);
  assert.ok(delays[1]! > delays[0]! / 2, `backoff grows: ${delays.join(', ')}`);
  assert.equal(s.state.status, 'failed');
  assert.match(s.state.error!.message, /item-1 failed after 3 attempts: model overloaded/);
  assert.ok(s.effects.some((e) => e.type === 'cancel-inference' && e.step === 'item-2'), 'the sibling call is cancelled');
  assert.equal(s.state.steps.get('item-2')!.status, 'cancelled');
  assert.equal(s.types().at(-1), 'job-failed');
});

test('a terminal model error fails the step at once', () => {
  const s = sim();
  s.start({ kind: 'test.fanout', input: { n: 1 } });
  s.answer(s.calls()[0]!, { error: 'prompt refused', terminal: true });
  assert.equal(s.state.status, 'failed');
  assert.equal(s.state.steps.get('plan')!.attempt, 1);
});

test('an attempt that gets no answer by its deadline times out and is retried', () => {
  const s = sim();
  s.start({ kind: 'test.fanout', input: { n: 1 } });
  const call = s.calls()[0]!;
  s.advance(s.now + TEST_DEFAULTS.policy.stepTimeoutMs);
  assert.equal(s.state.steps.get('plan')!.error?.code, 'timeout');
  assert.ok(s.effects.some((e) => e.type === 'cancel-inference' && e.requestId === call.requestId));
  // The late answer of the timed-out attempt is ignored.
  const before = s.log.length;
  s.answer(call, PLAN);
  assert.equal(s.log.length, before);
});

test('duplicate results are acknowledged and change nothing', () => {
  const s = sim();
  s.start({ kind: 'test.fanout', input: { n: 1 } });
  const call = s.calls()[0]!;
  s.answer(call, PLAN);
  const after = s.log.length;
  s.answer(call, PLAN);
  s.answer(call, '{"items":["z"]}');
  assert.equal(s.log.length, after);
  assert.deepEqual(s.state.steps.get('plan')!.output, { items: ['a', 'b', 'c', 'd', 'e', 'f'] });
});

test('cancellation stops new steps and cancels in-flight calls; cancelling again is a no-op', () => {
  const s = sim();
  s.start({ kind: 'test.fanout', input: { n: 4 } });
  s.answer(s.calls()[0]!, PLAN);
  const inFlight = s.calls().map((c) => c.requestId);
  s.cancel();
  assert.equal(s.state.status, 'cancelled');
  const cancelled = s.effects.flatMap((e) => (e.type === 'cancel-inference' ? [e.requestId] : []));
  assert.deepEqual(cancelled.sort(), inFlight.sort());
  assert.equal(s.calls().length, 0, 'no call left in the queue');
  const events = s.log.length;
  s.answer({ requestId: inFlight[0]!, model: 'test-model', messages: [], priority: 'batch', meta: { jobId: 'job-1', step: 'item-1', attempt: 1 } }, 'late');
  s.cancel();
  assert.equal(s.log.length, events, 'nothing after the end');
});

test('an approval step waits without holding the job in memory, then approval continues it', () => {
  const s = sim();
  s.start({ kind: 'test.fanout', input: { n: 2, approve: true } });
  s.answer(s.calls()[0]!, PLAN);
  assert.equal(s.state.status, 'waiting-approval');
  assert.equal(needsHost(s.state), false, 'nothing runs: the actor may passivate');
  assert.equal(s.calls().length, 0);
  s.approve(true);
  assert.equal(s.calls().length, 2);
  s.run(() => 'ok');
  assert.equal(s.state.status, 'succeeded');
});

test('rejecting an approval ends the job as rejected', () => {
  const s = sim();
  s.start({ kind: 'test.fanout', input: { n: 2, approve: true } });
  s.answer(s.calls()[0]!, PLAN);
  s.approve(false);
  assert.equal(s.state.status, 'rejected');
  assert.throws(() => s.approve(true), (err: unknown) => err instanceof ProtocolError && err.code === 'conflict');
});

test('approving a job that waits for nothing is a conflict', () => {
  const s = sim();
  s.start({ kind: 'test.fanout', input: { n: 2 } });
  assert.throws(() => s.approve(true), (err: unknown) => err instanceof ProtocolError && err.code === 'conflict');
});

test('starting again with the same request returns the job; another request under the same id is a conflict', () => {
  const s = sim();
  s.start({ kind: 'test.fanout', input: { n: 2 }, idempotencyKey: 'k1' });
  const events = s.log.length;
  assert.deepEqual(s.start({ kind: 'test.fanout', input: { n: 2 }, idempotencyKey: 'k1' }), { created: false });
  assert.equal(s.log.length, events);
  assert.throws(
    () => s.start({ kind: 'test.fanout', input: { n: 3 }, idempotencyKey: 'k1' }),
    (err: unknown) => err instanceof ProtocolError && err.code === 'conflict' && /idempotency key/.test(err.message),
  );
});

test('an unknown kind or an invalid input is refused before anything is recorded', () => {
  const s = sim();
  assert.throws(() => s.start({ kind: 'test.nope', input: {} }), (err: unknown) => err instanceof ProtocolError && err.code === 'invalid-input' && /unknown job kind/.test(err.message));
  assert.throws(
    () => s.start({ kind: 'test.fanout', input: { n: 'many' } }),
    (err: unknown) => err instanceof ProtocolError && err.code === 'invalid-input' && /input\.n/.test(err.message),
  );
  assert.equal(s.log.length, 0);
});

test('recovery resubmits running calls with the same request id and re-arms timers; completed steps are not rerun', () => {
  const s = sim();
  s.start({ kind: 'test.fanout', input: { n: 3 } });
  s.answer(s.calls()[0]!, PLAN);
  s.answer(s.calls()[0]!, 'one');
  const running = s.calls().map((c) => c.requestId).sort();
  s.recover();
  assert.deepEqual(s.calls().map((c) => c.requestId).sort(), running);
  assert.ok(!s.calls().some((c) => c.meta.step === 'plan' || c.meta.step === 'item-1'), 'succeeded steps are not resubmitted');
  assert.equal(s.timers.filter((t) => t.timer === 'timeout').length, running.length);
  s.run(() => 'x');
  assert.equal(s.state.status, 'succeeded');
});

test('a local activity that fails is retried; its stale outcome is ignored', () => {
  const s = sim();
  s.start({ kind: 'test.fanout', input: { n: 1 } });
  s.answer(s.calls()[0]!, PLAN);
  s.answer(s.calls()[0]!, 'one');
  const put = s.effects.find((e) => e.type === 'put-artifact');
  assert.ok(put !== undefined && put.type === 'put-artifact');
  s.effects = [];
  // The object store refuses once.
  s.apply(decideActivityDone(s.state, { step: put.step, attempt: put.attempt, outcome: { ok: false, error: { code: 'unavailable', message: 'store down' }, retryable: true } }, s.env()));
  assert.equal(s.state.steps.get('save')!.status, 'retry-wait');
  // A late success of the failed attempt changes nothing.
  const events = s.log.length;
  s.apply(decideActivityDone(s.state, { step: put.step, attempt: put.attempt, outcome: { ok: true, output: null, artifact: null } }, s.env()));
  assert.equal(s.log.length, events);
  s.fireNextTimer();
  assert.equal(s.state.steps.get('save')!.attempt, 2);
  s.completeLocal();
  assert.equal(s.state.status, 'succeeded');
});

test('the steps one decision starts share one plan: the pipeline works its steps out once, not again per started step', () => {
  let plans = 0;
  const counted: AnyPipeline = { ...testPipeline, steps: (ctx) => (plans++, testPipeline.steps(ctx)) } as AnyPipeline;
  const s = new JobSimulation(new Map([[counted.kind, counted]]), { ...TEST_DEFAULTS, policy: { ...TEST_DEFAULTS.policy, maxParallelSteps: 3 } });
  s.start({ kind: 'test.fanout', input: { n: 5 } });
  plans = 0;
  s.answer(s.calls()[0]!, PLAN);
  assert.deepEqual(s.calls().map((c) => c.meta.step), ['item-1', 'item-2', 'item-3']);
  // One to read the answered step's activity, one plan for the three starts (it was 1 + 1 + 2 per start + 1 to plan again).
  assert.equal(plans, 2);
  s.run((call) => `x${call.meta.step.slice(5)}`);
  assert.deepEqual(s.state.output, { joined: 'x1+x2+x3+x4+x5' });
});

test("a map's instant items and thens start in one plan: a pipeline is not worked out again per instance that ends at once", () => {
  let plans = 0;
  const group = { id: 'fan', maxParallel: 500 };
  const ids = Array.from({ length: 200 }, (_, i) => `fan-${i + 1}`);
  const thens = ids.map((id) => `${id}-then`);
  type None = Record<string, never>;
  const fan = definePipeline<None>({
    kind: 'test.instant-fan',
    description: 'test',
    input: z.object({}).strict(),
    steps: () => {
      plans++;
      return [
        ...ids.flatMap((id, i) => [
          { ...step<None>(id, [], 'tool', () => ({ type: 'tool', run: () => i + 1 })), group, fixed: true as const },
          // Like a map's then: after its item and the previous then, so they end in item order.
          { ...step<None>(thens[i]!, i === 0 ? [id] : [id, thens[i - 1]!], 'tool', (c) => ({ type: 'tool', run: () => c.output(id, z.number()) * 2 })), fixed: true as const },
        ]),
        step<None>('sum', thens, 'tool', (c) => ({ type: 'tool', run: () => thens.reduce((n, id) => n + c.output(id, z.number()), 0) })),
      ];
    },
    result: (c) => c.output('sum', z.number()),
  });
  const s = new JobSimulation(new Map([[fan.kind, fan]]));
  s.start({ kind: 'test.instant-fan', input: {} });
  assert.equal(s.state.status, 'succeeded');
  assert.equal(s.state.output, 200 * 201);
  const ended = s.log.flatMap((e) => (e.event.type === 'step-succeeded' && e.event.step.endsWith('-then') ? [e.event.step] : []));
  assert.deepEqual(ended, thens, 'thens end in item order');
  // One plan starts every item and then, one starts the sum, one finishes the job (it was a plan per instance: 400 of 401 specs each).
  assert.ok(plans <= 4, `${plans} plans`);
});
