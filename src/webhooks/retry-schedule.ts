/**
 * When a failed delivery is tried again: the n-th entry of the schedule is
 * the wait after the n-th failed attempt, stretched or shrunk by up to 20%
 * at random (jitter: endpoints that failed together do not all retry in the
 * same instant). Past the last entry the delivery is dead-lettered.
 */

/** Fraction by which a wait may move either way. */
export const RETRY_JITTER = 0.2;

/**
 * @param failedAttempts attempts made so far, all failed (1 after the first).
 * @returns the wait in ms, or null when the schedule is exhausted.
 */
export function retryDelayMs(schedule: readonly number[], failedAttempts: number, random: () => number = Math.random): number | null {
  const base = schedule[failedAttempts - 1];
  if (base === undefined) return null;
  return Math.round(base * (1 - RETRY_JITTER + 2 * RETRY_JITTER * random()));
}

/** The shortest time a delivery can take to run through the whole schedule (every wait jittered down). */
export function minScheduleSpanMs(schedule: readonly number[]): number {
  return Math.round(schedule.reduce((a, b) => a + b, 0) * (1 - RETRY_JITTER));
}
