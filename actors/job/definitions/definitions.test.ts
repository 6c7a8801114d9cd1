import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from '../../../protocol/errors.ts';
import { MAX_JOB_OUTPUT_BYTES, MAX_STEP_OUTPUT_BYTES } from '../../../protocol/job-events.ts';
import { MAX_OUTBOUND_EVENT_BYTES } from '../../../protocol/outbound-events.ts';
import { MAX_JOB_STEP_INSTANCES, type PipelineDefinition } from '../../../protocol/pipeline-definition.ts';
import type { InferenceCall } from '../effects.ts';
import { JobSimulation, TEST_DEFAULTS } from '../simulation.ts';
import { foldJob } from '../state.ts';
import { jobView } from '../view.ts';

/** Starts a job running `definition` (as the registry does: the definition travels with the start command). */
function startDef(definition: Record<string, unknown>, input: unknown = {}, targetDocId: string | null = null): JobSimulation {
  const s = new JobSimulation(new Map(), { ...TEST_DEFAULTS, policy: { ...TEST_DEFAULTS.policy, maxParallelSteps: 10 } });
  s.start({ kind: definition['kind'] as string, input, targetDocId, pipeline: { kind: definition['kind'] as string, version: 1, definition: definition as unknown as PipelineDefinition } });
  return s;
}

const userOf = (c: InferenceCall) => c.messages.find((m) => m.role === 'user')?.content ?? '';
const anyInput = { type: 'object' };

test('a job records the definition it started with, and replays from it alone', () => {
  const def = { kind: 'demo.one', input: anyInput, steps: [{ id: 'say', type: 'llm', prompt: { user: 'Say {{input.word}}' } }] };
  const s = startDef(def, { word: 'hi' });
  const created = s.log[0]?.event;
  assert.ok(created?.type === 'job-created');
  assert.deepEqual(created.pipeline, { kind: 'demo.one', version: 1, definition: def });
  assert.equal(userOf(s.calls()[0]!), 'Say hi');
  s.run(() => 'hello');
  assert.equal(s.state.status, 'succeeded');
  assert.deepEqual(s.state.output, { say: 'hello' });
});

test('a start whose definition is invalid or of another kind is refused naming the path', () => {
  const s = new JobSimulation(new Map());
  const bad = { kind: 'demo.bad', input: anyInput, steps: [{ id: 'a', type: 'llm', after: ['ghost'], prompt: { user: 'x' } }] };
  assert.throws(
    () => s.start({ kind: 'demo.bad', input: {}, pipeline: { kind: 'demo.bad', version: 1, definition: bad as unknown as PipelineDefinition } }),
    (err: unknown) => err instanceof ProtocolError && err.code === 'invalid-input' && /pipeline\.definition\/steps\/0\/after\/0: unknown step "ghost"/.test(err.message),
  );
  assert.throws(() => s.start({ kind: 'demo.other', input: {}, pipeline: { kind: 'demo.bad', version: 1, definition: bad as unknown as PipelineDefinition } }), /is not the job's kind/);
  assert.equal(s.log.length, 0, 'a refused start leaves no trace');
});

test('the input is checked against the definition\'s JSON Schema, and its defaults are applied', () => {
  const def = {
    kind: 'demo.input',
    input: { type: 'object', additionalProperties: false, required: ['topic'], properties: { topic: { type: 'string', minLength: 1 }, tone: { type: 'string', default: 'dry' } } },
    steps: [{ id: 'say', type: 'llm', prompt: { user: '{{input.topic}} in a {{input.tone}} tone' } }],
  };
  const s = startDef(def, { topic: 'tides' });
  assert.equal(userOf(s.calls()[0]!), 'tides in a dry tone');
  assert.throws(() => startDef(def, { topic: '' }), /demo\.input: input\.topic: must NOT have fewer than 1 characters/);
  assert.throws(() => startDef(def, { topic: 'x', color: 'red' }), /input\.color: unknown field/);
});

test('an llm answer that fails its output schema is a failed attempt, retried, never a result', () => {
  const def = {
    kind: 'demo.schema',
    input: anyInput,
    steps: [{ id: 'plan', type: 'llm', prompt: { user: 'plan' }, output: { type: 'object', required: ['items'], properties: { items: { type: 'array', items: { type: 'string' } } } } }],
  };
  const s = startDef(def);
  s.answer(s.calls()[0]!, '{"items": [1]}');
  const plan = s.state.steps.get('plan')!;
  assert.equal(plan.status, 'retry-wait');
  assert.equal(plan.error?.code, 'invalid-output');
  assert.match(plan.error!.message, /plan: \/items\/0 must be string/);
  s.run(() => '```json\n{"items": ["a"]}\n```');
  assert.equal(s.state.status, 'succeeded');
  assert.deepEqual(s.state.steps.get('plan')!.output, { items: ['a'] });
});

test('choice: the branch taken runs, steps only a branch not taken reaches are skipped, a join after both runs', () => {
  const def = {
    kind: 'demo.choice',
    input: anyInput,
    steps: [
      { id: 'test', type: 'llm', prompt: { user: 'test' }, output: { type: 'object' } },
      { id: 'route', type: 'choice', after: ['test'], branches: [{ when: { path: 'steps.test.output.passed', equals: true }, next: ['ship'] }], default: ['fix'] },
      { id: 'ship', type: 'llm', prompt: { user: 'ship' } },
      { id: 'fix', type: 'llm', prompt: { user: 'fix' } },
      { id: 'after-fix', type: 'llm', after: ['fix'], prompt: { user: 'after fix' } },
      { id: 'report', type: 'llm', after: ['ship', 'after-fix'], prompt: { user: 'report {{steps.ship.output}}|{{steps.fix.output}}' } },
    ],
  };
  const s = startDef(def);
  const prompts: string[] = [];
  s.run((c) => {
    prompts.push(userOf(c));
    return userOf(c) === 'test' ? '{"passed": true}' : `did ${userOf(c)}`;
  });
  assert.equal(s.state.status, 'succeeded', JSON.stringify(s.state.error));
  assert.deepEqual(s.state.steps.get('route')!.output, { branch: 0, next: ['ship'] });
  assert.equal(s.state.steps.get('route')!.activity, 'choice');
  assert.equal(s.state.steps.get('fix')!.status, 'skipped');
  assert.equal(s.state.steps.get('fix')!.skipReason, 'branch-not-taken');
  assert.equal(s.state.steps.get('after-fix')!.skipReason, 'unreachable');
  assert.deepEqual(prompts, ['test', 'ship', 'report did ship|']);

  const other = startDef(def);
  other.run((c) => (userOf(c) === 'test' ? '{"passed": false}' : `did ${userOf(c)}`));
  assert.equal(other.state.status, 'succeeded');
  assert.equal(other.state.steps.get('ship')!.skipReason, 'branch-not-taken');
  assert.equal(other.state.steps.get('after-fix')!.status, 'succeeded');
});

/** build -> fix -> rebuild: patch reads the previous build's log, the loop stops when a build passes. */
function loopDef(maxIterations: number, extra: Record<string, unknown> = {}) {
  return {
    kind: 'demo.loop',
    input: anyInput,
    steps: [
      {
        id: 'fix-loop',
        type: 'loop',
        maxIterations,
        until: { path: 'steps.build.output.passed', equals: true },
        steps: [
          { id: 'patch', type: 'llm', prompt: { user: 'patch after: {{steps.build.output.log}}' } },
          { id: 'build', type: 'llm', after: ['patch'], prompt: { user: 'build {{steps.patch.output}}' }, output: { type: 'object' } },
        ],
        ...extra,
      },
      { id: 'done', type: 'llm', after: ['fix-loop'], prompt: { user: 'done: {{steps.build.output.log}}' } },
    ],
  };
}

test('loop: each iteration runs as new instances and the loop stops once its condition holds', () => {
  const s = startDef(loopDef(3));
  const prompts: string[] = [];
  let builds = 0;
  s.run((c) => {
    prompts.push(userOf(c));
    if (userOf(c).startsWith('build')) return JSON.stringify({ passed: ++builds === 2, log: `log ${builds}` });
    return userOf(c).startsWith('patch') ? `p${builds + 1}` : 'ok';
  });
  assert.equal(s.state.status, 'succeeded', JSON.stringify(s.state.error));
  assert.deepEqual(prompts, ['patch after: ', 'build p1', 'patch after: log 1', 'build p2', 'done: log 2']);
  assert.deepEqual([...s.state.steps.keys()], ['fix-loop', 'patch.1', 'build.1', 'patch.2', 'build.2', 'done']);
  assert.deepEqual(s.state.steps.get('fix-loop')!.output, { iterations: 2, outputs: { patch: 'p2', build: { passed: true, log: 'log 2' } } });
});

test('loop: at maxIterations without its condition it fails, and its onFailure goto reaches a handler with the failure in context', () => {
  const def = loopDef(2, { onFailure: { goto: 'notify' } });
  def.steps.push({ id: 'notify', type: 'llm', prompt: { user: 'tell a human: {{failure.step}} {{failure.error.code}}' } } as never);
  const s = startDef(def);
  const prompts: string[] = [];
  s.run((c) => {
    prompts.push(userOf(c));
    return userOf(c).startsWith('build') ? '{"passed": false, "log": "red"}' : 'x';
  });
  assert.equal(s.state.status, 'succeeded', JSON.stringify(s.state.error));
  assert.equal(prompts.filter((p) => p.startsWith('build')).length, 2, 'two iterations, no more');
  assert.equal(s.state.steps.get('fix-loop')!.skipReason, 'diverted');
  assert.equal(s.state.steps.get('fix-loop')!.error?.code, 'loop-exhausted');
  assert.equal(s.state.steps.get('done')!.skipReason, 'unreachable');
  assert.equal(prompts.at(-1), 'tell a human: fix-loop loop-exhausted');

  const plain = startDef(loopDef(2));
  plain.run((c) => (userOf(c).startsWith('build') ? '{"passed": false}' : 'x'));
  assert.equal(plain.state.status, 'failed');
  assert.match(plain.state.error!.message, /fix-loop.*its condition did not hold after 2 iterations/);
});

test('a handler no failure reaches is skipped as not reached, and the job still succeeds', () => {
  const def = loopDef(3, { onFailure: { goto: 'notify' } });
  def.steps.push({ id: 'notify', type: 'llm', prompt: { user: 'tell a human' } } as never);
  const s = startDef(def);
  s.run((c) => (userOf(c).startsWith('build') ? '{"passed": true}' : 'x'));
  assert.equal(s.state.status, 'succeeded');
  assert.equal(s.state.steps.get('notify')!.skipReason, 'not-reached');
});

test('map: one instance per element, item and index in the template, at most maxParallel at a time, outputs in order', () => {
  const def = {
    kind: 'demo.map',
    input: { type: 'object', properties: { langs: { type: 'array' } } },
    steps: [
      { id: 'adapt', type: 'map', over: 'input.langs', maxParallel: 2, step: { type: 'llm', prompt: { user: '{{index}}/{{count}}: {{item}}' } } },
      { id: 'bundle', type: 'artifact', after: ['adapt'], name: 'all.json', body: { all: '{{steps.adapt.output}}' } },
    ],
  };
  const s = startDef(def, { langs: ['es', 'fr', 'de', 'it', 'pt'] });
  let most = 0;
  s.run((c) => {
    most = Math.max(most, s.calls().length);
    return userOf(c).toUpperCase();
  });
  assert.equal(s.state.status, 'succeeded', JSON.stringify(s.state.error));
  assert.equal(most, 2, 'two items in flight at most');
  assert.deepEqual(s.state.steps.get('adapt')!.output, ['1/5: ES', '2/5: FR', '3/5: DE', '4/5: IT', '5/5: PT']);
  assert.ok(s.state.steps.has('adapt.5'));
  const empty = startDef(def, { langs: [] });
  empty.run(() => 'x');
  assert.equal(empty.state.status, 'succeeded');
  assert.deepEqual(empty.state.steps.get('adapt')!.output, []);
  const notArray = startDef({ ...def, input: anyInput }, { langs: 'es' });
  notArray.run(() => 'x');
  assert.equal(notArray.state.status, 'failed');
  assert.equal(notArray.state.error?.code, 'map-over-invalid');
});

test('a prompt that nests sections over a large input fails its job at the template budget instead of holding the host', () => {
  const def = { kind: 'demo.blowup', input: anyInput, steps: [{ id: 'say', type: 'llm', prompt: { user: '{{#input.xs}}{{#input.xs}}{{#input.xs}}{{input.pad}}{{/input.xs}}{{/input.xs}}{{/input.xs}}' } }] };
  const s = startDef(def, { xs: Array.from({ length: 1_000 }, (_, i) => i), pad: 'x'.repeat(100) });
  assert.equal(s.state.status, 'failed');
  assert.equal(s.state.error?.code, 'pipeline-error');
  assert.match(s.state.error?.message ?? '', /step say could not be built: template rendering (passed \d+ section passes|produced more than \d+ characters)/);
  assert.equal(s.calls().length, 0, 'no model call was made');
});

test('a step\'s own retry policy sets its attempts and backoff (no jitter: exact doubling)', () => {
  const def = { kind: 'demo.retry', input: anyInput, steps: [{ id: 'call', type: 'llm', prompt: { user: 'x' }, retry: { attempts: 3, backoffMs: 1_000, maxBackoffMs: 10_000, jitter: 'none' } }] };
  const s = startDef(def);
  const delays: number[] = [];
  for (let i = 0; i < 3; i++) {
    s.answer(s.calls()[0]!, { error: 'overloaded' });
    const st = s.state.steps.get('call')!;
    if (st.retryAt === null) break;
    delays.push(st.retryAt - s.now);
    s.advance(st.retryAt);
  }
  assert.deepEqual(delays, [1_000, 2_000]);
  assert.equal(s.state.status, 'failed');
  assert.match(s.state.error!.message, /call failed after 3 attempts/);
});

test('a step\'s own timeout sets its attempt deadline', () => {
  const def = { kind: 'demo.timeout', input: anyInput, steps: [{ id: 'slow', type: 'llm', prompt: { user: 'x' }, timeoutMs: 500, retry: { attempts: 1 } }] };
  const s = startDef(def);
  const started = s.state.steps.get('slow')!;
  assert.equal(started.deadlineAt, started.attemptStartedAt + 500);
  s.advance(s.now + 500);
  assert.equal(s.state.status, 'failed');
  assert.equal(s.state.error?.code, 'timeout');
});

test('onFailure skip: the failed step is skipped and its dependents still run', () => {
  const def = {
    kind: 'demo.skip',
    input: anyInput,
    steps: [
      { id: 'optional', type: 'llm', prompt: { user: 'optional' }, onFailure: 'skip', retry: { attempts: 1 } },
      { id: 'main', type: 'llm', after: ['optional'], prompt: { user: 'main [{{steps.optional.output}}]' } },
    ],
  };
  const s = startDef(def);
  const prompts: string[] = [];
  s.run((c) => {
    prompts.push(userOf(c));
    return userOf(c) === 'optional' ? { error: 'refused', terminal: true } : 'fine';
  });
  assert.equal(s.state.status, 'succeeded');
  const skipped = s.state.steps.get('optional')!;
  assert.equal(skipped.status, 'skipped');
  assert.equal(skipped.skipReason, 'failed');
  assert.equal(skipped.error?.message, 'refused', 'the error stays visible');
  assert.deepEqual(prompts, ['optional', 'main []']);
});

test('a service step publishes its rendered input and passes its result on', () => {
  const def = {
    kind: 'demo.service',
    input: anyInput,
    steps: [
      { id: 'build', type: 'service', queue: 'site-build', input: { repo: '{{input.repo}}', files: '{{input.files}}' }, startToCloseMs: 30_000, heartbeatTimeoutMs: 5_000 },
      { id: 'say', type: 'llm', after: ['build'], prompt: { user: 'built {{steps.build.output.url}}' } },
    ],
  };
  const s = startDef(def, { repo: 'acme/site', files: ['a', 'b'] });
  const task = s.tasks()[0]!;
  assert.equal(task.task.queue, 'site-build');
  assert.deepEqual(task.task.input, { repo: 'acme/site', files: ['a', 'b'] });
  assert.equal(task.task.startToCloseMs, 30_000);
  assert.equal(task.task.heartbeatTimeoutMs, 5_000);
  s.finishTask(task, { ok: true, output: { url: 'https://preview' }, artifact: null });
  assert.equal(userOf(s.calls()[0]!), 'built https://preview');
});

test('emit: the output is the outbound event { type, data } under activity emit; an oversized one fails for good', () => {
  const def = {
    kind: 'demo.emit',
    input: anyInput,
    steps: [
      { id: 'prd', type: 'llm', prompt: { user: 'prd' }, output: { type: 'object' } },
      { id: 'announce', type: 'emit', after: ['prd'], event: 'prd.generated', data: { title: '{{steps.prd.output.title}}', sections: '{{steps.prd.output.sections}}' } },
    ],
  };
  const s = startDef(def);
  s.run(() => JSON.stringify({ title: 'PRD', sections: ['a', 'b'] }));
  assert.equal(s.state.status, 'succeeded');
  const emitted = s.log.find((e) => e.event.type === 'step-succeeded' && e.event.step === 'announce')?.event;
  assert.deepEqual(emitted?.type === 'step-succeeded' ? emitted.output : null, { type: 'prd.generated', data: { title: 'PRD', sections: ['a', 'b'] } });
  assert.equal(s.state.steps.get('announce')!.activity, 'emit');

  const big = startDef(def);
  big.run(() => JSON.stringify({ title: 'x'.repeat(MAX_OUTBOUND_EVENT_BYTES), sections: [] }));
  assert.equal(big.state.status, 'failed');
  assert.equal(big.state.steps.get('announce')!.attempt, 1, 'not retried');
  assert.match(big.state.error!.message, /over 65536/);
});

/** draft -> review (revision re-enters at draft) -> publish. */
const revisionDef = {
  kind: 'demo.revise',
  input: anyInput,
  steps: [
    { id: 'draft', type: 'llm', prompt: { user: 'draft{{#revision}} (revise: {{revision.comment}}){{/revision}}' } },
    { id: 'review', type: 'approval', after: ['draft'], revision: { reenterAt: 'draft' } },
    { id: 'publish', type: 'document-write', after: ['review'], text: '{{steps.draft.output}}' },
  ],
};

test('revision: a rejection with a comment re-enters at the named step with the comment in its prompt; the second approval completes', () => {
  const s = startDef(revisionDef, {}, 'doc-1');
  const prompts: string[] = [];
  const model = (c: InferenceCall) => {
    prompts.push(userOf(c));
    return `text ${prompts.length}`;
  };
  s.run(model);
  assert.equal(s.state.status, 'waiting-approval');
  s.approve(false, null, 'shorter please');
  assert.equal(s.types().at(-2), 'job-revised');
  assert.equal(s.state.status, 'running');
  s.run(model);
  assert.equal(s.state.status, 'waiting-approval');
  assert.deepEqual(prompts, ['draft', 'draft (revise: shorter please)']);
  assert.deepEqual([...s.state.steps.keys()], ['draft', 'review', 'draft.r2', 'review.r2']);
  s.approve(true);
  s.run(model);
  assert.equal(s.state.status, 'succeeded', JSON.stringify(s.state.error));
  const write = s.log.find((e) => e.event.type === 'step-succeeded' && e.event.step === 'publish.r2');
  assert.ok(write !== undefined, 'the write runs in round 2');
  assert.deepEqual(s.state.steps.get('review')!.output, { approved: false, by: 'alice', comment: 'shorter please', revised: true });
});

test('revision: a rejection without a comment rejects the job as before', () => {
  const s = startDef(revisionDef, {}, 'doc-1');
  s.run(() => 'text');
  s.approve(false);
  assert.equal(s.state.status, 'rejected');
});

test('document writes into the same root continue where the earlier ones ended', () => {
  const def = {
    kind: 'demo.doc',
    input: anyInput,
    steps: [
      { id: 'title', type: 'document-write', text: '# Title\n\n' },
      { id: 'body', type: 'document-write', after: ['title'], text: 'Body.\n' },
    ],
  };
  const s = startDef(def, {}, 'doc-9');
  const writes: { step: string; offset: number }[] = [];
  for (let i = 0; i < 5 && s.state.status === 'running'; i++) {
    for (const e of s.effects) if (e.type === 'write-document') writes.push({ step: e.step, offset: e.offset });
    s.completeLocal();
  }
  assert.equal(s.state.status, 'succeeded');
  assert.deepEqual(writes, [{ step: 'title', offset: 0 }, { step: 'body', offset: 9 }]);
});

test('replay: folding the log twice gives the same state as the live run, through choice, map, loop and revision', () => {
  const def = {
    kind: 'demo.all',
    input: anyInput,
    steps: [
      ...loopDef(3).steps,
      { id: 'fan', type: 'map', after: ['done'], over: 'input.items', maxParallel: 1, step: { type: 'llm', prompt: { user: 'item {{item}}' } } },
      { id: 'route', type: 'choice', after: ['fan'], branches: [{ when: { path: 'steps.fan.output.0', in: ['ITEM A'] }, next: ['yes'] }], default: ['no'] },
      { id: 'yes', type: 'llm', prompt: { user: 'yes' } },
      { id: 'no', type: 'llm', prompt: { user: 'no' } },
      { id: 'review', type: 'approval', after: ['yes', 'no'], revision: { reenterAt: 'fan' } },
    ],
  };
  const s = startDef(def, { items: ['a', 'b'] });
  let builds = 0;
  const model = (c: InferenceCall) => (userOf(c).startsWith('build') ? JSON.stringify({ passed: ++builds % 2 === 0 }) : userOf(c).toUpperCase());
  s.run(model);
  s.approve(false, null, 'again');
  s.run(model);
  s.approve(true);
  s.run(model);
  assert.equal(s.state.status, 'succeeded', JSON.stringify(s.state.error));
  const once = foldJob(s.state.id, s.log);
  const twice = foldJob(s.state.id, s.log);
  assert.deepEqual(jobView(once), jobView(s.state));
  assert.deepEqual(once, twice);
  assert.ok(once.steps.has('fan.r2.2') && once.steps.has('review.r2'));
});

test('recovery mid-map re-runs only what was in flight, under the same request ids', () => {
  const def = { kind: 'demo.recover', input: anyInput, steps: [{ id: 'fan', type: 'map', over: 'input.items', maxParallel: 2, step: { type: 'llm', prompt: { user: '{{item}}' } } }] };
  const s = startDef(def, { items: ['a', 'b', 'c'] });
  s.answer(s.calls()[0]!, 'A');
  const before = s.calls().map((c) => c.requestId).sort();
  s.recover();
  assert.deepEqual(s.calls().map((c) => c.requestId).sort(), before);
  s.run((c) => userOf(c).toUpperCase());
  assert.deepEqual(s.state.output, { fan: ['A', 'B', 'C'] });
});

test('a templated output schema is rendered per job: the count the input asks for is checked, and a wrong one retried', () => {
  const def = {
    kind: 'demo.count',
    input: { type: 'object', properties: { n: { type: 'integer', default: 2 } } },
    steps: [{ id: 'list', type: 'llm', prompt: { user: 'give {{input.n}}' }, output: { type: 'array', minItems: '{{input.n}}', maxItems: '{{input.n}}' } }],
  };
  const s = startDef(def, { n: 3 });
  s.answer(s.calls()[0]!, '[1, 2]');
  assert.match(s.state.steps.get('list')!.error!.message, /must NOT have fewer than 3 items/);
  s.run(() => '[1, 2, 3]');
  assert.equal(s.state.status, 'succeeded');
});

test('map: a whole number maps over 1..n, and collect shapes what each item contributes', () => {
  const def = {
    kind: 'demo.collect',
    input: { type: 'object', properties: { n: { type: 'integer' } } },
    steps: [
      { id: 'vary', type: 'map', over: 'input.n', step: { type: 'llm', prompt: { user: 'variation {{item}}' } }, collect: { index: '{{index}}', text: '{{output}}', label: 'v{{item}}' } },
      { id: 'save', type: 'artifact', after: ['vary'], name: 'all.md', body: '{{#steps.vary.output}}{{label}}: {{text}}\n{{/steps.vary.output}}' },
    ],
  };
  const s = startDef(def, { n: 2 });
  s.run((c) => userOf(c).toUpperCase());
  assert.equal(s.state.status, 'succeeded', JSON.stringify(s.state.error));
  assert.deepEqual(s.state.steps.get('vary')!.output, [
    { index: 1, text: 'VARIATION 1', label: 'v1' },
    { index: 2, text: 'VARIATION 2', label: 'v2' },
  ]);
  const put = s.log.find((e) => e.event.type === 'step-started' && e.event.step === 'save');
  assert.ok(put !== undefined);
});

test('revision rounds are bounded: past the last round a rejection with a comment rejects the job', () => {
  const s = startDef(revisionDef, {}, 'doc-1');
  let rounds = 1;
  s.run(() => 'text');
  while (s.state.status === 'waiting-approval') {
    s.approve(false, null, `round ${rounds}`);
    if ((s.state.status as string) !== 'rejected') rounds++;
    s.run(() => 'text');
  }
  assert.equal(s.state.status, 'rejected');
  assert.equal(rounds, 20);
  assert.equal(s.state.revisions.length, 19);
});

test('map.then runs per item in item order, one at a time, though items finish out of order; when skips per item; by keys outputs', () => {
  const def = {
    kind: 'demo.then',
    input: anyInput,
    steps: [
      {
        id: 'parts',
        type: 'map',
        over: 'input.parts',
        by: 'input.langs',
        step: { type: 'llm', prompt: { user: 'part {{item}} in {{key}}' }, when: { not: { path: 'item', equals: 'skip' } } },
        then: { type: 'document-write', text: '{{item}}={{output.en}};' },
        collect: { part: '{{item}}', texts: '{{output}}' },
      },
    ],
    result: { parts: '{{steps.parts.output}}', names: '{{steps.parts.output.*.part}}' },
  };
  const s = startDef(def, { parts: ['a', 'skip', 'c'], langs: ['en', 'fr'] }, 'doc-1');
  const order: string[] = [];
  for (let i = 0; i < 50 && s.state.status === 'running'; i++) {
    for (const e of s.effects) if (e.type === 'write-document' && !order.includes(e.step)) order.push(e.step);
    const calls = s.calls();
    const last = calls.at(-1); // answer the latest item first
    if (last !== undefined) s.answer(last, userOf(last));
    else s.completeLocal();
  }
  assert.equal(s.state.status, 'succeeded', JSON.stringify(s.state.error));
  assert.deepEqual(order, ['parts.1.then', 'parts.2.then', 'parts.3.then']);
  assert.equal(s.state.steps.get('parts.2.1')?.status, 'skipped');
  const out = s.state.output as { parts: { part: string; texts: Record<string, string | null> }[]; names: string[] };
  assert.deepEqual(out.parts[0], { part: 'a', texts: { en: 'part a in en', fr: 'part a in fr' } });
  assert.deepEqual(out.parts[1]?.texts, { en: null, fr: null });
  assert.deepEqual(out.names, ['a', 'skip', 'c']);
});

test('a job that would record more than MAX_JOB_STEP_INSTANCES step instances fails with too-many-steps instead of growing on', () => {
  // 21 maps of 500 items are 10,521 instances; each map is one step, so the definition itself is small.
  const steps = Array.from({ length: 21 }, (_, i) => ({
    id: `fan-${i}`,
    type: 'map',
    over: 'input.n',
    ...(i === 0 ? {} : { after: [`fan-${i - 1}`] }),
    step: { type: 'emit', event: 'fan.item', data: { index: '{{index}}' } },
  }));
  const s = startDef({ kind: 'demo.wide', input: anyInput, steps }, { n: 500 });
  assert.equal(s.state.status, 'failed');
  assert.equal(s.state.error?.code, 'too-many-steps');
  assert.match(s.state.error?.message ?? '', new RegExp(`instance ${MAX_JOB_STEP_INSTANCES + 1} of this job; at most ${MAX_JOB_STEP_INSTANCES}`));
  assert.equal(s.state.steps.size, MAX_JOB_STEP_INSTANCES);
});

test('an output too large for one log event fails its step for good (output-too-large) instead of being appended', () => {
  // Three service results of 400 KB each are fine alone; the map's output holds all three (1.2 MB), over MAX_STEP_OUTPUT_BYTES.
  const def = {
    kind: 'demo.heavy',
    input: anyInput,
    steps: [
      { id: 'fetch', type: 'map', over: 'input.n', step: { type: 'service', queue: 'fetch', input: { i: '{{index}}' } } },
      { id: 'after', type: 'emit', after: ['fetch'], event: 'fetch.done', data: {} },
    ],
  };
  const s = startDef(def, { n: 3 });
  for (const task of s.tasks()) s.finishTask(task, { ok: true, output: 'x'.repeat(400_000), artifact: null });
  assert.deepEqual(['fetch.1', 'fetch.2', 'fetch.3'].map((id) => s.state.steps.get(id)?.status), ['succeeded', 'succeeded', 'succeeded']);
  const map = s.state.steps.get('fetch');
  assert.equal(map?.status, 'failed');
  assert.equal(map?.error?.code, 'output-too-large');
  assert.match(map?.error?.message ?? '', new RegExp(`step fetch: its output is 1200\\d{3} bytes of JSON, over ${MAX_STEP_OUTPUT_BYTES}`));
  assert.equal(s.state.status, 'failed');
  assert.equal(s.state.error?.code, 'output-too-large');
  assert.ok(s.log.every((e) => e.event.type !== 'step-succeeded' || JSON.stringify(e.event.output).length <= MAX_STEP_OUTPUT_BYTES), 'no oversized output reached the log');
});

test("the outputs one job records are bounded together: past MAX_JOB_OUTPUT_BYTES a step fails for good (job-outputs-too-large)", () => {
  // 70 service results of 1,000,000 bytes: each is under MAX_STEP_OUTPUT_BYTES, together they pass the job's budget.
  const def = { kind: 'demo.hoard', input: anyInput, steps: [{ id: 'fetch', type: 'map', over: 'input.n', maxParallel: 100, step: { type: 'service', queue: 'fetch', input: {} } }] };
  const s = startDef(def, { n: 70 });
  const big = 'x'.repeat(1_000_000);
  for (let tasks = s.tasks(); tasks.length > 0; tasks = s.tasks()) for (const task of tasks) s.finishTask(task, { ok: true, output: big, artifact: null });
  const within = Math.floor(MAX_JOB_OUTPUT_BYTES / 1_000_002);
  const items = Array.from({ length: 70 }, (_, i) => s.state.steps.get(`fetch.${i + 1}`));
  assert.equal(items.filter((x) => x?.status === 'succeeded').length, within);
  const refused = items.find((x) => x?.status === 'failed');
  assert.equal(refused?.error?.code, 'job-outputs-too-large');
  assert.ok(s.state.outputBytes <= MAX_JOB_OUTPUT_BYTES, `${s.state.outputBytes} bytes recorded`);
  assert.equal(s.state.status, 'failed');
});
