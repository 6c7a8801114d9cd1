import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_PIPELINE_DEFINITION_BYTES, MAX_PIPELINE_STEPS, PIPELINE_DEFINITION_JSON_SCHEMA, validatePipelineDefinition, type PipelineDefinition } from './pipeline-definition.ts';

/** A definition using every step type, valid as it is. */
function valid(): { -readonly [K in keyof PipelineDefinition]: unknown } & { steps: Record<string, unknown>[] } {
  return {
    kind: 'site.generate',
    input: { type: 'object', required: ['brief'], properties: { brief: { type: 'string' } } },
    steps: [
      { id: 'plan', type: 'llm', prompt: { system: 'You plan.', user: 'Plan {{input.brief}}' }, output: { type: 'object', properties: { pages: { type: 'array' } } } },
      { id: 'pages', type: 'map', after: ['plan'], over: 'steps.plan.output.pages', maxParallel: 2, step: { type: 'llm', prompt: { user: 'Write {{item}} ({{index}})' } } },
      { id: 'route', type: 'choice', after: ['plan'], branches: [{ when: { path: 'steps.plan.output.deploy', equals: true }, next: ['repo'] }], default: ['note'] },
      { id: 'repo', type: 'service', queue: 'repository', input: { name: '{{input.brief}}' } },
      { id: 'note', type: 'document-write', text: 'No deploy for {{input.brief}}' },
      {
        id: 'build-loop',
        type: 'loop',
        after: ['repo', 'pages'],
        maxIterations: 3,
        until: { path: 'steps.build.output.passed', equals: true },
        onFailure: { goto: 'notify' },
        steps: [
          { id: 'patch', type: 'service', queue: 'patch', input: { log: '{{steps.build.output.log}}', repo: '{{steps.repo.output.url}}' } },
          { id: 'build', type: 'service', queue: 'build', after: ['patch'], retry: { attempts: 2, backoffMs: 100, jitter: 'none' }, timeoutMs: 60_000 },
        ],
      },
      { id: 'review', type: 'approval', after: ['build-loop'], revision: { reenterAt: 'build-loop' } },
      { id: 'save', type: 'artifact', after: ['review'], name: 'site.json', body: { pages: '{{steps.pages.output}}' } },
      { id: 'read', type: 'object-read', after: ['review'], key: 'uploads/{{input.brief}}' },
      { id: 'done', type: 'emit', after: ['save', 'read'], event: 'site.generated', data: { build: '{{steps.build.output.url}}' }, onFailure: 'skip' },
      { id: 'notify', type: 'emit', event: 'site.failed', data: { why: '{{failure.error.message}}' } },
    ],
    result: { url: '{{steps.build.output.url}}' },
  };
}

function errorsOf(def: unknown): { path: string; message: string }[] {
  const r = validatePipelineDefinition(def);
  assert.equal(r.ok, false, 'the definition is refused');
  return r.ok ? [] : [...r.errors];
}

function assertFault(def: unknown, path: string, message: RegExp): void {
  const errors = errorsOf(def);
  assert.ok(
    errors.some((e) => e.path === path && message.test(e.message)),
    `expected ${path} ${message}, got ${JSON.stringify(errors)}`,
  );
}

function withStep(index: number, patch: Record<string, unknown>) {
  const def = valid();
  def.steps[index] = { ...def.steps[index], ...patch };
  return def;
}

test('a definition using every step type is valid and comes back as it was', () => {
  const def = valid();
  const r = validatePipelineDefinition(def);
  assert.deepEqual(r, { ok: true, definition: def });
});

test('the published schema is a draft 2020-12 JSON Schema naming every step type', () => {
  assert.equal(PIPELINE_DEFINITION_JSON_SCHEMA.$schema, 'https://json-schema.org/draft/2020-12/schema');
  const types = Object.values(PIPELINE_DEFINITION_JSON_SCHEMA.$defs).flatMap((d) => {
    const t = (d as { properties?: { type?: { const?: string } } }).properties?.type?.const;
    return t === undefined ? [] : [t];
  });
  for (const t of ['llm', 'service', 'approval', 'document-write', 'artifact', 'object-read', 'emit', 'map', 'choice', 'loop']) assert.ok(types.includes(t), t);
});

test('an unknown step type is refused at its type field', () => {
  assertFault(withStep(3, { type: 'shell' }), '/steps/3/type', /step type must be one of llm, service/);
});

test('a missing required field and an unknown field are named', () => {
  const def = valid();
  delete def.steps[0]!['prompt'];
  assertFault(def, '/steps/0', /must have required property 'prompt'/);
  assertFault(withStep(0, { temprature: 1 }), '/steps/0/temprature', /unknown field "temprature"/);
  assertFault({ ...valid(), kind: 'NoDots' }, '/kind', /must match pattern/);
});

test('duplicate step ids are refused, loop members included', () => {
  assertFault(withStep(4, { id: 'plan' }), '/steps/4/id', /duplicate step id "plan"/);
  const def = valid();
  (def.steps[5]!['steps'] as Record<string, unknown>[])[0]!['id'] = 'repo';
  assertFault(def, '/steps/5/steps/0/id', /duplicate step id "repo"/);
});

test('a dangling after, goto, reenterAt or branch target is refused', () => {
  assertFault(withStep(1, { after: ['plna'] }), '/steps/1/after/0', /unknown step "plna"/);
  assertFault(withStep(9, { onFailure: { goto: 'nobody' } }), '/steps/9/onFailure/goto', /unknown step "nobody"/);
  assertFault(withStep(6, { revision: { reenterAt: 'gone' } }), '/steps/6/revision/reenterAt', /unknown step "gone"/);
  assertFault(withStep(2, { default: ['ghost'] }), '/steps/2/default/0', /unknown step "ghost"/);
  assertFault(withStep(2, { branches: [{ when: { path: 'input.x', exists: true }, next: ['nope'] }] }), '/steps/2/branches/0/next/0', /unknown step "nope"/);
});

test('after may not name a loop member from outside the loop', () => {
  assertFault(withStep(6, { after: ['build'] }), '/steps/6/after/0', /belongs to loop "build-loop"; depend on the loop/);
});

test('a cycle outside a loop is refused, naming the cycle', () => {
  assertFault(withStep(0, { after: ['save'] }), '/steps/0/after', /cycle outside a loop: .*plan.*save|cycle outside a loop: .*save.*plan/);
});

test('a cycle among loop members is refused', () => {
  const def = valid();
  (def.steps[5]!['steps'] as Record<string, unknown>[])[0]!['after'] = ['build'];
  assertFault(def, '/steps/5/steps/0/after', /cycle among the members of loop "build-loop"/);
});

test('a template reading a step that does not precede it is refused', () => {
  assertFault(withStep(4, { text: 'Pages: {{steps.pages.output}}' }), '/steps/4/text', /reads step "pages", which does not precede "note"/);
  assertFault(withStep(0, { prompt: { user: '{{#steps.done.output}}x{{/steps.done.output}}' } }), '/steps/0/prompt/user', /reads step "done"/);
  assertFault(withStep(3, { input: { a: ['{{steps.unknown.output}}'] } }), '/steps/3/input/a/0', /reads unknown step "unknown"/);
});

test('a template that does not parse is refused', () => {
  assertFault(withStep(0, { prompt: { user: 'Plan {{#input.brief}} never closed' } }), '/steps/0/prompt/user', /template does not parse/);
});

test('map.over must name an array of the input or of a preceding step', () => {
  assertFault(withStep(1, { over: 'steps.save.output.items' }), '/steps/1/over', /reads step "save", which does not precede "pages"/);
  assertFault(withStep(1, { over: 'job.id' }), '/steps/1/over', /must name an array in the input or in a preceding step/);
});

test('conditions read only preceding steps (choice) or the loop and what precedes it (until)', () => {
  assertFault(withStep(2, { branches: [{ when: { not: { path: 'steps.done.output.x', exists: true } }, next: ['repo'] }] }), '/steps/2/branches/0/when/not/path', /reads step "done"/);
  assertFault(withStep(5, { until: { all: [{ path: 'steps.save.output.ok', equals: true }] } }), '/steps/5/until/all/0/path', /neither in the loop nor before it/);
});

test('nested JSON Schemas must compile', () => {
  assertFault(withStep(0, { output: { type: 'objekt' } }), '/steps/0/output', /not a valid JSON Schema/);
  assertFault({ ...valid(), input: { type: 'object', properties: { n: { minimum: 'three' } } } }, '/input', /not a valid JSON Schema/);
  const def = valid();
  def.steps[1] = { ...def.steps[1], step: { type: 'llm', prompt: { user: 'x' }, output: { required: 'all' } } };
  assertFault(def, '/steps/1/step/output', /not a valid JSON Schema/);
});

test('nested JSON Schemas may not use references, which can make checking exponential', () => {
  // 25 definitions, each an anyOf of three uses of the one before: 8 x 10^11 checks of one value.
  const defs: Record<string, unknown> = { d0: { type: 'string', minLength: 2 } };
  for (let i = 1; i <= 25; i++) defs[`d${i}`] = { anyOf: [0, 1, 2].map(() => ({ $ref: `#/$defs/d${i - 1}` })) };
  assertFault({ ...valid(), input: { $ref: '#/$defs/d25', $defs: defs } }, '/input/$ref', /references \(\$ref, \$dynamicRef\) are not supported/);
  assertFault(withStep(0, { output: { type: 'object', properties: { next: { $dynamicRef: '#node' } } } }), '/steps/0/output/properties/next/$dynamicRef', /not supported/);
  // A property that is merely named "$ref" is no reference.
  assert.equal(validatePipelineDefinition({ ...valid(), input: { type: 'object', properties: { $ref: { type: 'string' } } } }).ok, true);
});

test('nested JSON Schemas may only carry patterns that match in linear time', () => {
  assertFault(withStep(0, { output: { type: 'object', properties: { slug: { type: 'string', pattern: '^(a+)+$' } } } }), '/steps/0/output', /pattern "\^\(a\+\)\+\$" can take time growing exponentially/);
  assertFault({ ...valid(), input: { type: 'object', patternProperties: { '^(x|xx)+$': { type: 'string' } } } }, '/input', /can take time growing exponentially/);
  assert.equal(validatePipelineDefinition({ ...valid(), input: { type: 'object', properties: { brief: { type: 'string', pattern: '^[a-z][a-z0-9-]*$' } } } }).ok, true);
});

test('goto targets are handlers without after, and cannot precede the failing step', () => {
  assertFault(withStep(10, { after: ['plan'] }), '/steps/10/after', /onFailure target .* cannot have "after"/);
  assertFault(withStep(7, { onFailure: { goto: 'plan' } }), '/steps/7/onFailure/goto', /"plan" precedes "save": going back is a cycle/);
  assertFault(withStep(7, { onFailure: { goto: 'save' } }), '/steps/7/onFailure/goto', /cannot go to itself/);
});

test('reenterAt must be a top-level step before the approval', () => {
  assertFault(withStep(6, { revision: { reenterAt: 'done' } }), '/steps/6/revision/reenterAt', /must be a top-level step that precedes "review"/);
});

test('a loop member cannot goto, nor depend on steps outside its group', () => {
  const def = valid();
  (def.steps[5]!['steps'] as Record<string, unknown>[])[1]!['after'] = ['plan'];
  assertFault(def, '/steps/5/steps/1/after/0', /not a member of loop "build-loop"/);
  const def2 = valid();
  (def2.steps[5]!['steps'] as Record<string, unknown>[])[1]!['onFailure'] = { goto: 'notify' };
  assertFault(def2, '/steps/5/steps/1/onFailure', /goto belongs on the loop/);
});

test('an emit event must be a dotted event type; a service queue one subject token', () => {
  assertFault(withStep(9, { event: 'Done' }), '/steps/9/event', /must match pattern/);
  assertFault(withStep(3, { queue: 'a.b' }), '/steps/3/queue', /must match pattern/);
});

test('the result template may read only steps that exist', () => {
  assertFault({ ...valid(), result: { x: '{{steps.nothing.output}}' } }, '/result/x', /reads unknown step "nothing"/);
});

test('a definition over the size limit is refused whole', () => {
  const def = withStep(0, { description: 'x'.repeat(2_000) });
  def['description'] = 'y'.repeat(MAX_PIPELINE_DEFINITION_BYTES);
  assertFault(def, '', /bytes as JSON, over/);
});

test('non-objects are refused without throwing', () => {
  for (const raw of [null, 42, 'x', [], { kind: 'a.b' }]) assert.equal(validatePipelineDefinition(raw).ok, false);
});

test('a templated output schema is checked for its references, and compiled only when its step runs', () => {
  assert.equal(validatePipelineDefinition(withStep(0, { output: { type: 'array', minItems: '{{input.n}}' } })).ok, true);
  assertFault(withStep(0, { output: { type: 'array', minItems: '{{steps.save.output.n}}' } }), '/steps/0/output/minItems', /reads step "save", which does not precede "plan"/);
});

test('map.collect may read the item, its output and preceding steps only', () => {
  assert.equal(validatePipelineDefinition(withStep(1, { collect: { page: '{{item}}', text: '{{output}}', plan: '{{steps.plan.output}}' } })).ok, true);
  assertFault(withStep(1, { collect: { later: '{{steps.save.output}}' } }), '/steps/1/collect/later', /reads step "save", which does not precede "pages"/);
});

test('when, cite, map.by and map.then read only what precedes them; a maxTokens string must be one tag', () => {
  assertFault(withStep(0, { when: { path: 'steps.save.output.key', exists: true } }), '/steps/0/when/path', /reads step "save", which does not precede "plan"/);
  assertFault(withStep(1, { by: 'steps.save.output' }), '/steps/1/by', /reads step "save", which does not precede "pages"/);
  assertFault(withStep(1, { then: { type: 'document-write', text: '{{steps.note.output}}' } }), '/steps/1/then/text', /reads step "note", which does not precede "pages"/);
  assertFault(withStep(1, { step: { type: 'llm', prompt: { user: 'x' }, when: { path: 'steps.route.output', exists: true } } }), '/steps/1/step/when/path', /reads step "route"/);
  assertFault(withStep(0, { cite: 'steps.plan.output' }), '/steps/0/cite', /cannot also have an output schema/);
  assertFault(withStep(1, { step: { type: 'llm', prompt: { user: 'x' }, cite: 'steps.save.output' } }), '/steps/1/step/cite', /reads step "save"/);
  assertFault(withStep(0, { maxTokens: 'many {{input.n}}' }), '/steps/0/maxTokens', /must match pattern|must be integer/);
  const ok = withStep(1, { by: 'input.langs', then: { type: 'document-write', root: '{{input.root}}', text: '{{output}}', when: { path: 'job.targetDocId', exists: true } } });
  assert.equal(validatePipelineDefinition(ok).ok, true, JSON.stringify(validatePipelineDefinition(ok)));
});

test('the step cap counts loop members: 200 top-level steps of 50 members each would be 10,000 steps', () => {
  // Five loops of 50 members: 255 steps, well inside the schema's per-array limits and the byte limit.
  const loops = Array.from({ length: 5 }, (_, i) => ({
    id: `loop-${i}`,
    type: 'loop',
    maxIterations: 1,
    steps: Array.from({ length: 50 }, (_, j) => ({ id: `m-${i}-${j}`, type: 'emit', event: 'x.done', data: {} })),
  }));
  assertFault({ kind: 'big.one', input: { type: 'object' }, steps: loops }, '/steps', new RegExp(`255 steps, loop members included; at most ${MAX_PIPELINE_STEPS}`));
  const fits = { kind: 'big.one', input: { type: 'object' }, steps: loops.slice(0, 3) };
  assert.equal(validatePipelineDefinition(fits).ok, true, 'three loops of 50 (153 steps) fit');
});
