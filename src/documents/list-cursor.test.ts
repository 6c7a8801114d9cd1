import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidInputError } from '../errors/index.ts';
import { decodeCursor, encodeCursor } from './document-service.ts';

const forged = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
const refusedAsCursor = (err: unknown) => err instanceof InvalidInputError && err.field === 'cursor';

test('a cursor the API wrote reads back', () => {
  const cursor = { createdAt: new Date('2026-12-07T10:00:00.123Z'), id: 'doc-1' };
  assert.deepEqual(decodeCursor(encodeCursor(cursor)), cursor);
});

test('a forged cursor whose time or id PostgreSQL would refuse is a 400 on the cursor, not a query error', () => {
  for (const value of [[9007199254740991, 'x'], [-1e15, 'x'], [-1, 'x'], [1, 'a\u0000b'], [1, '\ud800'], [1, ''], [1, 'x'.repeat(600)], [1.5, 'x'], [1, 2], [1], 'x']) {
    assert.throws(() => decodeCursor(forged(value)), refusedAsCursor, JSON.stringify(value));
  }
  assert.throws(() => decodeCursor('%%%'), refusedAsCursor);
});
