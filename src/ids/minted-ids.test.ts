import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mintedIdForKey, newMintedId } from './minted-ids.ts';

test('minted ids are per kind: one idempotency key names different jobs and sessions', () => {
  assert.match(mintedIdForKey('agent', 'alice', 'k'), /^agent_[a-z2-7]{26}$/);
  assert.match(newMintedId('agent'), /^agent_[a-z2-7]{26}$/);
  assert.equal(mintedIdForKey('agent', 'alice', 'k'), mintedIdForKey('agent', 'alice', 'k'));
  assert.notEqual(mintedIdForKey('agent', 'alice', 'k').slice(6), mintedIdForKey('job', 'alice', 'k').slice(4));
});
