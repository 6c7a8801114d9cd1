import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from '@hono/zod-openapi';
import { findUnsafeJson, isSafeText, MAX_JSON_DEPTH, queryInt, safeJson, safeText } from './safe-text.ts';

test('text with NUL or a lone surrogate is refused; emoji and other scripts are kept', () => {
  assert.equal(isSafeText('Launch plan 🚀 — 計画'), true);
  assert.equal(isSafeText(''), true);
  assert.equal(isSafeText('a\u0000b'), false);
  assert.equal(isSafeText('a\uD800b'), false);
  assert.equal(isSafeText('tail \uDC00'), false);
  assert.equal(isSafeText('\uDE80\uD83D'), false, 'a pair in the wrong order is two lone surrogates');
});

test('safeText stays a chainable string schema and fails with its own message', () => {
  const title = safeText().trim().min(1).max(10);
  assert.equal(title.parse('  ok  '), 'ok');
  const bad = title.safeParse('x\u0000');
  assert.equal(bad.success, false);
  assert.match(bad.error?.issues[0]?.message ?? '', /NUL/);
  assert.equal(safeText().email().safeParse('a\u0000@example.com').success, false);
});

test('findUnsafeJson names the path of the first bad string, key, number or depth', () => {
  assert.equal(findUnsafeJson({ topic: 'Tides', sections: [1, 2, { t: 'ok' }] }), null);
  assert.deepEqual(findUnsafeJson({ a: 'ok', b: [0, { c: 'x\uD800' }] })?.path, ['b', 1, 'c']);
  assert.deepEqual(findUnsafeJson({ ['k\u0000']: 1 })?.path, ['k\u0000']);
  assert.deepEqual(findUnsafeJson(JSON.parse('{"n":[1e400]}'))?.path, ['n', 0]);
  let deep: unknown = 'leaf';
  for (let i = 0; i < 100_000; i++) deep = [deep];
  const tooDeep = findUnsafeJson({ deep });
  assert.equal(tooDeep?.path.length, MAX_JSON_DEPTH);
  assert.match(tooDeep?.message ?? '', /deeper/);
});

test('safeJson reports the offending entry under the field it guards', () => {
  const schema = z.object({ input: safeJson(z.record(z.unknown())) });
  const res = schema.safeParse({ input: { outline: ['fine', 'bad\u0000'] } });
  assert.equal(res.success, false);
  assert.deepEqual(res.error?.issues[0]?.path, ['input', 'outline', 1]);
});

test('queryInt refuses huge, infinite, negative, fractional and non-numeric values', () => {
  const limit = queryInt({ min: 1, max: 100 });
  assert.equal(limit.parse('20'), 20);
  for (const bad of ['1e20', '1e400', '-1', '0', '2.5', 'abc', 'NaN', 'Infinity', '101']) {
    assert.equal(limit.safeParse(bad).success, false, bad);
  }
});
