/**
 * Exponential backoff with jitter for failed step attempts: attempt n waits
 * a draw from min(max, base * 2^(n-1)). "equal" jitter (the default) draws
 * between half and all of it, so retries of many jobs failing together
 * spread out while each still backs off; "full" draws between 0 and all of
 * it; "none" waits exactly. The random draw is an input: the chosen time is
 * recorded in the log (step-attempt-failed.retryAt), so replays never
 * re-draw it. A step of a definition may carry its own policy.
 */
import type { JobPolicy } from '../../protocol/job-events.ts';

export type Jitter = 'equal' | 'full' | 'none';

/** What a retry decision needs: the job's policy or a step's own. */
export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly jitter?: Jitter;
}

/**
 * Delay before the attempt after `attempt` (1-based), in ms.
 * @param random a draw in [0, 1).
 */
export function backoffDelayMs(attempt: number, policy: Pick<RetryPolicy, 'retryBaseMs' | 'retryMaxMs' | 'jitter'>, random: number): number {
  const exponent = Math.min(Math.max(0, attempt - 1), 30);
  const ceiling = Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** exponent);
  const r = Math.min(Math.max(random, 0), 1);
  switch (policy.jitter ?? 'equal') {
    case 'none':
      return Math.round(ceiling);
    case 'full':
      return Math.round(r * ceiling);
    case 'equal':
      return Math.round(ceiling / 2 + r * (ceiling / 2));
  }
}

/**
 * When the next attempt starts, or null when `attempt` was the last one
 * allowed (or the error is terminal).
 */
export function nextRetryAt(attempt: number, now: number, policy: RetryPolicy | JobPolicy, random: number, terminal = false): number | null {
  if (terminal || attempt >= policy.maxAttempts) return null;
  return now + backoffDelayMs(attempt, policy, random);
}
