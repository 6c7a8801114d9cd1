/**
 * Exponential backoff with jitter for failed step attempts: attempt n waits
 * between half and all of min(max, base * 2^(n-1)) ("equal jitter"), so
 * retries of many jobs failing together spread out while each still backs
 * off. The random draw is an input: the chosen time is recorded in the log
 * (step-attempt-failed.retryAt), so replays never re-draw it.
 */
import type { JobPolicy } from '../../protocol/job-events.ts';

/**
 * Delay before the attempt after `attempt` (1-based), in ms.
 * @param random a draw in [0, 1).
 */
export function backoffDelayMs(attempt: number, policy: Pick<JobPolicy, 'retryBaseMs' | 'retryMaxMs'>, random: number): number {
  const exponent = Math.min(Math.max(0, attempt - 1), 30);
  const ceiling = Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** exponent);
  const r = Math.min(Math.max(random, 0), 1);
  return Math.round(ceiling / 2 + r * (ceiling / 2));
}

/**
 * When the next attempt starts, or null when `attempt` was the last one
 * allowed (or the error is terminal).
 */
export function nextRetryAt(attempt: number, now: number, policy: JobPolicy, random: number, terminal = false): number | null {
  if (terminal || attempt >= policy.maxAttempts) return null;
  return now + backoffDelayMs(attempt, policy, random);
}
