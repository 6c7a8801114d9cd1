/**
 * CoalescedWrites without a database: saves made while a batch is written
 * go out together as the next batch, merged per key and sorted by key; a
 * failed batch is written again key by key, so only the refused value's
 * savers see the error.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoalescedWrites } from './coalesced-writes.ts';

describe('CoalescedWrites', () => {
  it('writes the saves of one tick as one batch, and those made meanwhile as the next, merged per key', async () => {
    const batches: string[][] = [];
    let release: () => void = () => {};
    let first = true;
    const writes = new CoalescedWrites<string>(
      async (values) => {
        batches.push([...values]);
        if (first) {
          first = false;
          await new Promise<void>((resolve) => (release = resolve));
        }
      },
      (pending, saved) => `${pending}+${saved}`,
    );
    const tick = [writes.save('b', 'b1'), writes.save('a', 'a1'), writes.save('b', 'b2')];
    await new Promise<void>((resolve) => setImmediate(resolve));
    // The first batch is being written: these wait for the next one.
    const meanwhile = [writes.save('c', 'c1'), writes.save('a', 'a2'), writes.save('c', 'c2')];
    release();
    await Promise.all([...tick, ...meanwhile]);
    assert.deepEqual(batches, [
      ['a1', 'b1+b2'],
      ['a2', 'c1+c2'],
    ]);
  });

  it('writes a failed batch again key by key: only the refused value fails', async () => {
    const batches: string[][] = [];
    const writes = new CoalescedWrites<string>(
      async (values) => {
        batches.push([...values]);
        if (values.includes('bad')) throw new Error('refused');
      },
      (_pending, saved) => saved,
    );
    const outcomes = await Promise.allSettled([writes.save('x', 'ok1'), writes.save('y', 'bad'), writes.save('z', 'ok2')]);
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.deepEqual(batches, [['ok1', 'bad', 'ok2'], ['ok1'], ['bad'], ['ok2']]);
  });
});
