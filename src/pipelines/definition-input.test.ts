import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isYamlMediaType, parseDefinitionBody } from './definition-body.ts';
import { InputValidator } from './input-validation.ts';
import { PipelineError } from './pipeline-error.ts';

const refused = (code: string, field?: string) => (err: unknown) => {
  assert.ok(err instanceof PipelineError, String(err));
  assert.equal(err.code, code);
  if (field !== undefined) assert.equal(err.field, field);
  return true;
};

test('YAML media types are told apart from JSON ones, parameters and case aside', () => {
  assert.equal(isYamlMediaType('application/yaml'), true);
  assert.equal(isYamlMediaType('Text/YAML; charset=utf-8'), true);
  assert.equal(isYamlMediaType('application/json'), false);
  assert.equal(isYamlMediaType(undefined), false);
});

test('a definition body is one JSON or YAML object; anything else is refused naming the body', () => {
  assert.deepEqual(parseDefinitionBody('{"kind":"a.b"}', false), { kind: 'a.b' });
  assert.deepEqual(parseDefinitionBody('kind: a.b\nsteps: []\n', true), { kind: 'a.b', steps: [] });
  assert.throws(() => parseDefinitionBody('[1]', false), refused('invalid-body', 'body'));
  assert.throws(() => parseDefinitionBody('just text', true), refused('invalid-body', 'body'));
  assert.throws(() => parseDefinitionBody('a: 1\na: 2\n', true), refused('invalid-body'), 'duplicate keys');
  assert.throws(() => parseDefinitionBody('---\na: 1\n---\nb: 2\n', true), refused('invalid-body'), 'two documents');
  // A billion-laughs body: aliases beyond the bound are refused instead of expanding.
  const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]', ...Array.from({ length: 9 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(', ')}]`)].join('\n');
  assert.throws(() => parseDefinitionBody(laughs, true), refused('invalid-body'));
});

test('an input failing its schema is refused naming the dotted field, with every fault listed', () => {
  const v = new InputValidator();
  const schema = { type: 'object', additionalProperties: false, required: ['text'], properties: { text: { type: 'string' }, n: { type: 'integer', default: 3 }, tags: { type: 'array', items: { type: 'string' } } } };
  const input = { text: 'hi' };
  v.check('k1', schema, input);
  assert.deepEqual(input, { text: 'hi' }, 'defaults are not written into the caller’s value');
  assert.throws(() => v.check('k1', schema, {}), refused('invalid-input', 'input.text'));
  assert.throws(() => v.check('k1', schema, { text: 'x', tags: ['a', 2] }), refused('invalid-input', 'input.tags.1'));
  assert.throws(() => v.check('k1', schema, { text: 'x', extra: true }), refused('invalid-input', 'input.extra'));
  try {
    v.check('k1', schema, { tags: [1] });
    assert.fail('accepted');
  } catch (err) {
    assert.ok(err instanceof PipelineError);
    assert.ok((err.problems?.length ?? 0) >= 2, JSON.stringify(err.problems));
  }
});

test('an input schema stored before its pattern was refusable is the definition’s fault, not a 500', () => {
  const v = new InputValidator();
  const schema = { type: 'object', properties: { text: { type: 'string', pattern: '^(a+)+$' } } };
  assert.throws(() => v.check('old-version', schema, { text: `${'a'.repeat(40)}!` }), refused('invalid-definition', 'kind'));
});

test('an input schema stored with a reference (refused at registration since) is the definition’s fault', () => {
  const v = new InputValidator();
  const schema = { $ref: '#/$defs/n', $defs: { n: { type: 'array', items: { $ref: '#/$defs/n' } } } };
  // A recursive schema followed 5,000 levels of nesting past the stack: a RangeError, and a 500.
  const deep = JSON.parse(`${'['.repeat(5_000)}${']'.repeat(5_000)}`) as unknown;
  assert.throws(() => v.check('with-ref', schema, deep), refused('invalid-definition', 'kind'));
});
