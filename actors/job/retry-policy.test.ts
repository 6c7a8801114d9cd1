import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelayMs, nextRetryAt } from './retry-policy.ts';

const policy = { maxAttempts: 4, stepTimeoutMs: 1_000, maxParallelSteps: 2, retryBaseMs: 100, retryMaxMs: 1_000 };

test('backoff doubles per attempt and stays between half and all of its ceiling', () => {
  for (const [attempt, ceiling] of [[1, 100], [2, 200], [3, 400], [4, 800]] as const) {
    assert.equal(backoffDelayMs(attempt, policy, 0), ceiling / 2);
    assert.equal(backoffDelayMs(attempt, policy, 0.999_999), ceiling);
    const mid = backoffDelayMs(attempt, policy, 0.5);
    assert.ok(mid > ceiling / 2 && mid < ceiling, `attempt ${attempt}: ${mid}`);
  }
});

test('backoff is capped at the maximum however many attempts failed', () => {
  assert.equal(backoffDelayMs(50, policy, 0.999_999), 1_000);
  assert.equal(backoffDelayMs(10_000, policy, 0), 500);
});

test('jitter spreads retries of attempts that failed together', () => {
  const draws = [0.1, 0.4, 0.7, 0.95].map((r) => backoffDelayMs(3, policy, r));
  assert.equal(new Set(draws).size, draws.length);
});

test('the last allowed attempt and terminal errors get no retry', () => {
  assert.equal(nextRetryAt(1, 10_000, policy, 0), 10_050);
  assert.equal(nextRetryAt(3, 10_000, policy, 0), 10_200);
  assert.equal(nextRetryAt(4, 10_000, policy, 0), null);
  assert.equal(nextRetryAt(1, 10_000, policy, 0, true), null);
  assert.equal(nextRetryAt(1, 0, { ...policy, maxAttempts: 1 }, 0.5), null);
});

test('a step may ask for no jitter (exact doubling) or full jitter (anywhere up to the ceiling)', () => {
  const exact = { ...policy, jitter: 'none' as const };
  assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoffDelayMs(n, exact, 0.7)), [100, 200, 400, 800, 1_000]);
  const full = { ...policy, jitter: 'full' as const };
  assert.equal(backoffDelayMs(3, full, 0), 0);
  assert.equal(backoffDelayMs(3, full, 0.5), 200);
});
