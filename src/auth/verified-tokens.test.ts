/** VerifiedTokens: an entry is returned only before its token's expiry, and the map is bounded. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Principal } from './principal.ts';
import { VerifiedTokens } from './verified-tokens.ts';

const principal = (userId: string, expiresAtMs: number | undefined): Principal => ({
  kind: 'user',
  userId,
  keyId: undefined,
  scopes: new Set(),
  sessionId: 's',
  expiresAt: expiresAtMs === undefined ? undefined : new Date(expiresAtMs),
});

test('a verified token is returned until its expiry, not at or after it', () => {
  const tokens = new VerifiedTokens();
  tokens.set('t1', principal('u1', 2_000));
  assert.equal(tokens.get('t1', 1_999)?.userId, 'u1');
  assert.equal(tokens.get('t1', 2_000), undefined);
  assert.equal(tokens.get('t1', 1_000), undefined, 'an expired entry is gone, not kept for a clock that goes back');
  tokens.set('t2', principal('u2', undefined));
  assert.equal(tokens.get('t2', 0), undefined, 'a token without expiry is never remembered');
});

test('at most maxEntries tokens are remembered, the oldest dropped first', () => {
  const tokens = new VerifiedTokens(2);
  for (const id of ['a', 'b', 'c']) tokens.set(id, principal(id, 10_000));
  assert.deepEqual(['a', 'b', 'c'].map((id) => tokens.get(id, 0)?.userId), [undefined, 'b', 'c']);
});
