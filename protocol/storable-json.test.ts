/** toStorableJson: text PostgreSQL refuses becomes U+FFFD, anywhere in a value; a clean value comes back as it is. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { toStorableJson } from './storable-json.ts';

test('a value with nothing to replace comes back uncopied', () => {
  const value = { text: 'fine', list: [1, 'two', { deep: null }], flag: true };
  assert.equal(toStorableJson(value), value);
});

test('NUL and lone surrogates in strings and keys, at any depth, become U+FFFD', () => {
  const value = { ['k\u0000']: ['a\uD800', { b: 'c\u0000d' }], ok: 'kept' };
  assert.deepEqual(toStorableJson(value), { ['k\uFFFD']: ['a\uFFFD', { b: 'c\uFFFDd' }], ok: 'kept' });
  assert.deepEqual(value, { ['k\u0000']: ['a\uD800', { b: 'c\u0000d' }], ok: 'kept' }, 'the original is left as it was');
  assert.equal(toStorableJson('x\u0000'), 'x\uFFFD');
});
