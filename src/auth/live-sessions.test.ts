/**
 * LiveSessions: a live answer is reused within its TTL and no longer; a
 * revoked one never is; revocations forget at once, including a read that
 * was in flight when the revocation came.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LiveSessions } from './live-sessions.ts';

function store(revoked: Set<string>) {
  const reads: string[] = [];
  return { reads, isRevoked: (sessionId: string) => (reads.push(sessionId), Promise.resolve(revoked.has(sessionId))) };
}

test('a live session is read once per TTL; a revoked one is read every time', async () => {
  let now = 1_000;
  const revoked = new Set(['s-gone']);
  const s = store(revoked);
  const live = new LiveSessions(s.isRevoked, { ttlMs: 500, now: () => now });
  assert.equal(await live.isSessionRevoked('u1', 's1'), false);
  now += 499;
  assert.equal(await live.isSessionRevoked('u1', 's1'), false);
  assert.deepEqual(s.reads, ['s1']);
  now += 1;
  assert.equal(await live.isSessionRevoked('u1', 's1'), false);
  assert.deepEqual(s.reads, ['s1', 's1'], 'read again once the TTL ran out');
  assert.equal(await live.isSessionRevoked('u1', 's-gone'), true);
  assert.equal(await live.isSessionRevoked('u1', 's-gone'), true);
  assert.deepEqual(s.reads.slice(2), ['s-gone', 's-gone']);
  // The same session id under another user is not a hit.
  assert.equal(await live.isSessionRevoked('u2', 's1'), false);
  assert.equal(s.reads.at(-1), 's1');
});

test('a revocation of the session, or of all sessions of its user, is seen at the next request', async () => {
  const revoked = new Set<string>();
  const s = store(revoked);
  const live = new LiveSessions(s.isRevoked, { ttlMs: 60_000 });
  for (const id of ['a', 'b', 'c']) await live.isSessionRevoked(id === 'c' ? 'u2' : 'u1', id);
  revoked.add('a');
  live.forget({ kind: 'session', userId: 'u1', sessionId: 'a' });
  assert.equal(await live.isSessionRevoked('u1', 'a'), true);
  live.forget({ kind: 'api-key', userId: 'u1', keyId: 'k1' });
  const before = s.reads.length;
  assert.equal(await live.isSessionRevoked('u1', 'b'), false);
  assert.equal(s.reads.length, before, 'an API key revocation leaves sessions alone');
  revoked.add('b');
  live.forget({ kind: 'all-sessions', userId: 'u1' });
  assert.equal(await live.isSessionRevoked('u1', 'b'), true);
  assert.equal(await live.isSessionRevoked('u2', 'c'), false);
  assert.equal(s.reads.length, before + 1, "another user's session is still reused");
});

test('a read in flight when a revocation is told does not put back a live answer', async () => {
  const revoked = new Set<string>();
  let answer: ((revoked: boolean) => void) | undefined;
  let reads = 0;
  const live = new LiveSessions(
    (sessionId) => {
      reads++;
      if (reads === 1) return new Promise((resolve) => (answer = resolve));
      return Promise.resolve(revoked.has(sessionId));
    },
    { ttlMs: 60_000 },
  );
  const early = live.isSessionRevoked('u1', 's1');
  // The store said live just before the logout committed; the notice arrives before the answer.
  revoked.add('s1');
  live.forget({ kind: 'session', userId: 'u1', sessionId: 's1' });
  answer?.(false);
  assert.equal(await early, false);
  assert.equal(await live.isSessionRevoked('u1', 's1'), true);
  assert.equal(reads, 2);
});

test('at most maxEntries sessions are remembered, the oldest dropped first', async () => {
  const s = store(new Set());
  const live = new LiveSessions(s.isRevoked, { ttlMs: 60_000, maxEntries: 2 });
  for (const id of ['a', 'b', 'c']) await live.isSessionRevoked('u1', id);
  s.reads.length = 0;
  for (const id of ['c', 'b', 'a']) await live.isSessionRevoked('u1', id);
  assert.deepEqual(s.reads, ['a']);
});
