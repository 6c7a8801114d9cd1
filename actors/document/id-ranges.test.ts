import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { IdRanges } from './id-ranges.ts';

/** The set as [client, clock, len] triples, in client then clock order. */
function triples(set: IdRanges): number[][] {
  const out: number[][] = [];
  set.forEach((client, ranges) => {
    for (const r of ranges) out.push([client, r.clock, r.len]);
  });
  return out.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
}

test('adding merges overlapping and adjacent ranges, in any order', () => {
  const set = new IdRanges();
  set.add(1, 10, 5);
  set.add(1, 0, 3);
  set.add(1, 3, 2); // touches both neighbours' gap on the left
  set.add(1, 20, 1);
  set.add(1, 12, 9); // bridges 10..15 and 20..21
  set.add(2, 7, 0); // empty: nothing
  assert.deepEqual(triples(set), [
    [1, 0, 5],
    [1, 10, 11],
  ]);
  assert.equal(set.size, 16);
  assert.ok(set.has(1, 4) && set.has(1, 20) && !set.has(1, 5) && !set.has(1, 21) && !set.has(2, 7));
});

test('minus keeps exactly the ids the other set lacks', () => {
  const a = new IdRanges();
  a.add(1, 0, 10);
  a.add(2, 5, 5);
  const b = new IdRanges();
  b.add(1, 2, 3);
  b.add(1, 8, 5);
  b.add(2, 0, 100);
  assert.deepEqual(triples(a.minus(b)), [
    [1, 0, 2],
    [1, 5, 3],
  ]);
});

test('it round-trips through its encoding and through a Yjs DeleteSet', () => {
  const set = new IdRanges();
  set.add(3, 100, 4);
  set.add(3, 1, 1);
  set.add(0xffff_fffe, 7, 2);
  const e = encoding.createEncoder();
  set.write(e);
  const bytes = encoding.toUint8Array(e);
  assert.ok(bytes.length <= set.maxEncodedBytes);
  assert.deepEqual(triples(IdRanges.read(decoding.createDecoder(bytes))), triples(set));
  assert.deepEqual(triples(IdRanges.fromDeleteSet(set.toDeleteSet())), triples(set));
  assert.throws(() => IdRanges.read(decoding.createDecoder(bytes.subarray(0, bytes.length - 1))));
});
