/** Token buckets on an injected clock: bursts, refusal with a retry time, recovery, isolation and bounded memory. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRateLimiter } from './rate-limiter.ts';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('createRateLimiter', () => {
  it('allows a burst of capacity, then refuses with the time until one token refills', () => {
    const c = clock();
    const limiter = createRateLimiter({ capacity: 3, refillPerSec: 0.5, now: c.now });
    for (let i = 0; i < 3; i++) assert.deepEqual(limiter.take('a'), { ok: true });
    assert.deepEqual(limiter.take('a'), { ok: false, retryAfterMs: 2_000 });
    c.advance(1_000);
    assert.deepEqual(limiter.take('a'), { ok: false, retryAfterMs: 1_000 });
  });

  it('recovers once the refill time has passed, and never holds more than capacity', () => {
    const c = clock();
    const limiter = createRateLimiter({ capacity: 2, refillPerSec: 10, now: c.now });
    limiter.take('a');
    limiter.take('a');
    assert.equal(limiter.take('a').ok, false);
    c.advance(100);
    assert.equal(limiter.take('a').ok, true);
    c.advance(3_600_000);
    assert.equal(limiter.take('a').ok, true);
    assert.equal(limiter.take('a').ok, true);
    assert.equal(limiter.take('a').ok, false);
  });

  it('keeps keys apart and refills a key on reset', () => {
    const limiter = createRateLimiter({ capacity: 1, refillPerSec: 1, now: clock().now });
    assert.equal(limiter.take('a').ok, true);
    assert.equal(limiter.take('b').ok, true);
    assert.equal(limiter.take('a').ok, false);
    limiter.reset('a');
    assert.equal(limiter.take('a').ok, true);
  });

  it('takes a cost of several tokens or none at all', () => {
    const limiter = createRateLimiter({ capacity: 5, refillPerSec: 1, now: clock().now });
    assert.equal(limiter.take('a', 4).ok, true);
    assert.deepEqual(limiter.take('a', 3), { ok: false, retryAfterMs: 2_000 });
    assert.equal(limiter.take('a', 1).ok, true);
  });

  it('holds at most maxKeys buckets, and none for a key whose bucket stays full', () => {
    const c = clock();
    const limiter = createRateLimiter({ capacity: 2, refillPerSec: 1, now: c.now, maxKeys: 10 });
    for (let i = 0; i < 100; i++) limiter.take(`k${i}`);
    assert.equal(limiter.size, 10);
    c.advance(10_000);
    limiter.take('fresh', 0);
    assert.equal(limiter.size, 10);
  });

  it('refuses nonsensical settings', () => {
    assert.throws(() => createRateLimiter({ capacity: 0, refillPerSec: 1 }), RangeError);
    assert.throws(() => createRateLimiter({ capacity: 1, refillPerSec: 0 }), RangeError);
  });
});
