import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpError } from './errors.ts';
import { idempotencyKeyOf } from './idempotency-key.ts';

test('the key comes from the header or the body, which must agree', () => {
  assert.equal(idempotencyKeyOf('k', undefined), 'k');
  assert.equal(idempotencyKeyOf(undefined, 'k'), 'k');
  assert.equal(idempotencyKeyOf('k', 'k'), 'k');
  assert.equal(idempotencyKeyOf(undefined, undefined), null);
  assert.throws(() => idempotencyKeyOf('a', 'b'), (err: unknown) => err instanceof HttpError && err.status === 400 && err.field === 'idempotencyKey');
});
