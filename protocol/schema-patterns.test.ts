/**
 * User JSON Schemas may only carry patterns that match in linear time: an
 * exponential one would let one hostile string hold an event loop. The
 * hostile strings below would take hours under a backtracking RegExp
 * (2^40 paths), so a test that finishes shows the pattern never ran that way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { schemaCompiler } from './pipeline-definition-rules.ts';
import { linearRegExp, MAX_PATTERN_LENGTH, PatternAnalyser, UnsafePatternError, unsafePatternReason } from './schema-patterns.ts';

const HOSTILE = `${'a'.repeat(40)}!`;

test('patterns that match in linear time are kept as native RegExps', () => {
  for (const p of ['\\S', '^\\S+$', '^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$', '^#[0-9a-fA-F]{6}$', '^[a-z][a-z0-9-]*(\\.[a-z][a-z0-9-]*)+$', '\\p{L}+']) {
    assert.equal(unsafePatternReason(p, 'u'), null, p);
    const re = linearRegExp(p, 'u');
    assert.ok(re instanceof RegExp);
    assert.equal(re.source, new RegExp(p, 'u').source);
  }
});

test('exponential and polynomial patterns are refused, saying why', () => {
  assert.match(unsafePatternReason('^(a+)+$', 'u') ?? '', /exponentially/);
  assert.match(unsafePatternReason('(a|aa)+$', 'u') ?? '', /exponentially/);
  assert.match(unsafePatternReason('a*a*a*b', 'u') ?? '', /as the input length to the power [2-9]/);
  assert.throws(() => linearRegExp('^(\\w+\\s?)*$', 'u'), (err: unknown) => err instanceof UnsafePatternError && /pattern "\^\(\\\\w\+\\\\s\?\)\*\$" can take time growing exponentially/.test(err.message));
});

test('an overlong pattern is refused without analysis', () => {
  assert.match(unsafePatternReason('a'.repeat(MAX_PATTERN_LENGTH + 1), 'u') ?? '', new RegExp(`at most ${MAX_PATTERN_LENGTH}`));
});

test('a user schema with an unsafe pattern or patternProperties key does not compile', () => {
  const ajv = schemaCompiler();
  assert.throws(() => ajv.compile({ type: 'string', pattern: '^(a+)+$' }), /can take time growing exponentially/);
  assert.throws(() => schemaCompiler().compile({ type: 'object', patternProperties: { '^(x+)+y$': { type: 'number' } } }), /can take time growing exponentially/);
});

test('a safe schema still validates, and a hostile string is answered at once', () => {
  const validate = schemaCompiler().compile({ type: 'object', properties: { code: { type: 'string', pattern: '^a+$' } }, patternProperties: { '^x-': { type: 'number' } } });
  assert.equal(validate({ code: 'aaa', 'x-n': 1 }), true);
  assert.equal(validate({ code: HOSTILE }), false);
  assert.equal(validate({ code: 'aaa', 'x-n': 'one' }), false);
});

test('a pattern without repetition or alternation needs no analysis; alternation alone does', () => {
  assert.equal(unsafePatternReason('\\S', 'u'), null);
  assert.equal(unsafePatternReason('^x-\\d\\.', 'u'), null);
  assert.match(unsafePatternReason(`^${'(a|a)'.repeat(30)}$`, 'u') ?? 'refused', /./, 'alternation goes to the analysis');
});

test('a process spends a bounded time a minute on new patterns; past it they are refused, and not remembered', () => {
  let now = 0;
  // The clock moves 50 ms per reading, so every analysis "takes" 50 ms: the budget of 100 ms allows two.
  const analyser = new PatternAnalyser({ budgetMs: 100, windowMs: 60_000, timeoutMs: 5_000, now: () => (now += 50) });
  for (const p of ['^a+$', '^b+$']) assert.equal(analyser.reason(p, 'u'), null, p);
  assert.match(analyser.reason('^d+$', 'u') ?? '', /could not be analysed now .* try again in a minute/);
  assert.equal(analyser.reason('^a+$', 'u'), null, 'a verdict already reached is kept');
  now += 60_000;
  assert.equal(analyser.reason('^d+$', 'u'), null, 'a new window analyses it');
  assert.equal(analyser.analysed, 3);
});
