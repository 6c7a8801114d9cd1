import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SYNC_PART_TTL_MS } from '../../protocol/doc.ts';
import { SyncParts } from './sync-parts.ts';

test('a small update is one part; a big one is cut into ranges that concatenate back', () => {
  const parts = new SyncParts();
  assert.deepEqual(parts.split(new Uint8Array([1, 2]), 10), { first: new Uint8Array([1, 2]), parts: 1, syncId: '' });
  const big = Uint8Array.from({ length: 25 }, (_, i) => i);
  const cut = parts.split(big, 10);
  assert.equal(cut.parts, 3);
  const all = Buffer.concat([cut.first, parts.part(cut.syncId, 1)!, parts.part(cut.syncId, 2)!]);
  assert.deepEqual(new Uint8Array(all), big);
  assert.equal(parts.part(cut.syncId, 3), null);
});

test('cut replies expire and are bounded in number', () => {
  let now = 0;
  const parts = new SyncParts(() => now);
  const cut = parts.split(new Uint8Array(30), 10);
  now += SYNC_PART_TTL_MS + 1;
  assert.equal(parts.part(cut.syncId, 1), null, 'expired');
  const ids = Array.from({ length: 20 }, () => parts.split(new Uint8Array(30), 10).syncId);
  assert.equal(parts.part(ids[0]!, 1), null, 'oldest evicted');
  assert.notEqual(parts.part(ids[19]!, 1), null);
});
