/**
 * Tool schemas come from services outside Loom: a pattern that backtracks
 * exponentially would let a model's arguments hold the actor host's event
 * loop, so such a schema is refused before it becomes a tool.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validatePipelineDefinition } from '../../protocol/pipeline-definition.ts';
import { LOOM_LINEAR_PATTERNS, patternsAnalysed } from '../../protocol/schema-patterns.ts';
import { SchemaValidator } from './schema-validator.ts';

test("Loom's own schemas and ajv's meta-schemas compile without loading the analyser (about 70 MB of RSS)", async () => {
  const { BUILT_IN_DEFINITIONS } = await import('../../actors/job/pipelines/catalog.ts');
  for (const def of BUILT_IN_DEFINITIONS) assert.equal(validatePipelineDefinition(def).ok, true);
  const { jobStartTool } = await import('./builtins/job-start.ts');
  new SchemaValidator().prepare(jobStartTool({ timeoutMs: 1_000 } as unknown as Parameters<typeof jobStartTool>[0]).descriptor.parameters);
  assert.equal(patternsAnalysed(), 0);
});

test('a tool schema whose pattern backtracks exponentially is refused; a linear one checks arguments', () => {
  const validator = new SchemaValidator();
  assert.throws(() => validator.prepare({ type: 'object', properties: { q: { type: 'string', pattern: '^(a|aa)+$' } } }), /can take time growing exponentially/);
  const schema = { type: 'object', properties: { q: { type: 'string', pattern: '^a+$' } }, required: ['q'] };
  validator.prepare(schema);
  assert.equal(validator.check(schema, { q: 'aaa' }), null);
  assert.equal(validator.check(schema, { q: `${'a'.repeat(40)}!` }), 'arguments/q: must match pattern "^a+$"');
});

/** Every `pattern` and `patternProperties` key anywhere in a JSON value. */
function patternsIn(value: unknown, out: Set<string>): Set<string> {
  if (Array.isArray(value)) for (const v of value) patternsIn(v, out);
  else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'pattern' && typeof v === 'string') out.add(v);
      if (k === 'patternProperties' && typeof v === 'object' && v !== null) for (const p of Object.keys(v)) out.add(p);
      patternsIn(v, out);
    }
  }
  return out;
}

test("Loom's own patterns are linear, and every one its built-ins use is listed or has a single path", async () => {
  const { checkSync } = await import('recheck');
  for (const p of LOOM_LINEAR_PATTERNS) assert.equal(checkSync(p, 'u', { timeout: 5_000 }).status, 'safe', p);
  const { BUILT_IN_DEFINITIONS } = await import('../../actors/job/pipelines/catalog.ts');
  const { jobStartTool } = await import('./builtins/job-start.ts');
  // Only the descriptor is read: the dependencies are never called.
  const jobStart = jobStartTool({ timeoutMs: 1_000 } as unknown as Parameters<typeof jobStartTool>[0]).descriptor.parameters;
  const used = patternsIn([BUILT_IN_DEFINITIONS, jobStart], new Set());
  assert.ok(used.size >= 3, `found ${[...used].join(', ')}`);
  for (const p of used) assert.ok(LOOM_LINEAR_PATTERNS.has(p) || !/[*+?{|]/.test(p.replace(/\\./g, '')), `${p} is neither listed in LOOM_LINEAR_PATTERNS nor free of repetition and alternation`);
});


test('uniqueItems in a tool schema is checked in linear time', () => {
  const validator = new SchemaValidator();
  const schema = { type: 'object', properties: { ids: { type: 'array', uniqueItems: true } } };
  const ids = Array.from({ length: 100_000 }, (_, i) => ({ i }));
  assert.equal(validator.check(schema, { ids }), null);
  assert.equal(validator.check(schema, { ids: [...ids, { i: 7 }] }), 'arguments/ids: must NOT have duplicate items (items ## 7 and 100000 are identical)');
});
