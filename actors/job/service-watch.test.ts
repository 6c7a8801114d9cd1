import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceWatch } from './service-watch.ts';

const clocks = { startToCloseMs: 10_000, heartbeatTimeoutMs: 1_000 };

test('a claim starts both clocks; heartbeats push the heartbeat clock, not start-to-close', () => {
  const w = new ServiceWatch();
  assert.deepEqual(w.claim('s', 1, 'a', 0, clocks), { accepted: true });
  assert.equal(w.dueAt('s', 1), 1_000);
  assert.equal(w.expired('s', 1, 999), null);
  assert.equal(w.expired('s', 1, 1_000)?.code, 'heartbeat-timeout');
  assert.deepEqual(w.beat('s', 1, 'a', 900, clocks, { pct: 10 }), { accepted: true });
  assert.equal(w.dueAt('s', 1), 1_900);
  assert.deepEqual(w.holder('s', 1)?.progress, { pct: 10 });
  for (let t = 1_800; t < 10_000; t += 800) w.beat('s', 1, 'a', t, clocks);
  assert.equal(w.expired('s', 1, 10_000)?.code, 'start-to-close-timeout');
});

test('another worker cannot take a held attempt until its holder times out', () => {
  const w = new ServiceWatch();
  w.claim('s', 1, 'a', 0, clocks);
  assert.equal(w.claim('s', 1, 'b', 500, clocks).accepted, false);
  assert.equal(w.beat('s', 1, 'b', 500, clocks).accepted, false);
  assert.equal(w.claim('s', 1, 'b', 1_000, clocks).accepted, true);
  assert.equal(w.holder('s', 1)?.workerId, 'b');
});

test('a new attempt replaces the old hold; the old attempt is unknown', () => {
  const w = new ServiceWatch();
  w.claim('s', 1, 'a', 0, clocks);
  w.claim('s', 2, 'b', 10, clocks);
  assert.equal(w.holder('s', 1), undefined);
  assert.equal(w.expired('s', 1, 99_999), null);
  assert.equal(w.holder('s', 2)?.workerId, 'b');
  w.release('s', 1);
  assert.equal(w.holder('s', 2)?.workerId, 'b', "releasing a stale attempt leaves the current one's hold");
});

test('after recovery an adopted attempt is held by nobody until a heartbeat names its worker', () => {
  const w = new ServiceWatch();
  w.adopt('s', 1, 100, { startToCloseMs: 5_000, heartbeatTimeoutMs: null });
  assert.equal(w.holder('s', 1)?.workerId, null);
  assert.equal(w.dueAt('s', 1), 5_100);
  assert.deepEqual(w.beat('s', 1, 'a', 200, clocks), { accepted: true });
  assert.equal(w.holder('s', 1)?.workerId, 'a');
  w.release('s');
  assert.equal(w.dueAt('s', 1), null);
});
