import { test } from 'node:test';
import assert from 'node:assert/strict';
import { idToToken } from '../../protocol/ids.ts';
import { jobIdForKey, newJobId } from './job-ids.ts';

test('an idempotency key names one job per owner', () => {
  assert.equal(jobIdForKey('alice', 'k-1'), jobIdForKey('alice', 'k-1'));
  assert.notEqual(jobIdForKey('alice', 'k-1'), jobIdForKey('bob', 'k-1'));
  assert.notEqual(jobIdForKey('alice', 'k-1'), jobIdForKey('alice', 'k-2'));
  // No separator games: ("a", "b\u0000c") and ("a\u0000b", "c") differ.
  assert.notEqual(jobIdForKey('a', 'b\u0000c'), jobIdForKey('a\u0000b', 'c'));
});

test('job ids are plain subject tokens of a fixed shape', () => {
  for (const id of [jobIdForKey('alice', 'k'), newJobId(), newJobId()]) {
    assert.match(id, /^job_[a-z2-7]{26}$/);
    assert.equal(idToToken(id), id);
  }
  assert.notEqual(newJobId(), newJobId());
});
