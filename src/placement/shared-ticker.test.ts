import { test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor } from '../testing/index.ts';
import { SharedTicker, sharedTicker, type TickerMember } from './shared-ticker.ts';

test('one ticker per owner and period', () => {
  const owner = {};
  assert.equal(sharedTicker(owner, 100), sharedTicker(owner, 100));
  assert.notEqual(sharedTicker(owner, 100), sharedTicker(owner, 200));
  assert.notEqual(sharedTicker(owner, 100), sharedTicker({}, 100));
});

test('every member is ticked by the one timer, which runs only while there are members', async () => {
  const ticker = new SharedTicker(5);
  assert.equal(ticker.running, false);
  const ticks = [0, 0, 0];
  const members: TickerMember[] = ticks.map((_, i) => ({ onTick: () => void (ticks[i] = (ticks[i] ?? 0) + 1) }));
  for (const m of members) ticker.add(m);
  assert.equal(ticker.size, 3);
  assert.equal(ticker.running, true);
  await waitFor(() => ticks.every((n) => n >= 3), { what: 'every member ticked three times' });
  for (const m of members) ticker.delete(m);
  assert.equal(ticker.size, 0);
  assert.equal(ticker.running, false);
});

test('a member may leave during its own tick without stopping the others', async () => {
  const ticker = new SharedTicker(5);
  let stayed = 0;
  const leaving: TickerMember = { onTick: () => ticker.delete(leaving) };
  const staying: TickerMember = { onTick: () => void (stayed += 1) };
  ticker.add(leaving);
  ticker.add(staying);
  await waitFor(() => stayed >= 2, { what: 'the staying member ticked twice' });
  assert.equal(ticker.size, 1);
  ticker.delete(staying);
  assert.equal(ticker.running, false);
});

test('a period under 1 ms is refused', () => {
  assert.throws(() => new SharedTicker(0), RangeError);
});
