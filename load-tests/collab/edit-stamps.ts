/**
 * The payload of one edit, and how a receiver turns it into latency samples.
 *
 * Each client overwrites one key of the document's Y.Map `edits`, its own
 * client index, with `[n, t(n), t(n-1), ..., t(n-W+1)]`: its edit number and
 * the send times (wall-clock ms) of its last W edits, newest first.
 *
 * Why overwrite one key instead of one key per edit: Yjs garbage-collects an
 * overwritten map value and merges the same client's consecutive deleted
 * items, so every client's document stays a few items long. With a key per
 * edit, 1,000 clients each held the whole history (~1.5 M items per worker),
 * and the workers' GC pauses (up to 0.4 s) showed up as server latency.
 *
 * Why W stamps: a server may deliver several edits of one client in one
 * message; the receiver then sees only the newest value, and the W stamps
 * still give it the send time of each edit it skipped. Edits more than W
 * behind are counted as delivered but unsampled.
 */

/** How many send times each edit carries. */
export const stampWindow = 8;

/** The value to write for edit n sent at sentAtMs, given the previous value (or undefined). */
export function nextStamps(previous: readonly number[] | undefined, n: number, sentAtMs: number): number[] {
  const older = previous === undefined ? [] : previous.slice(1, stampWindow);
  return [n, sentAtMs, ...older];
}

export interface Deliveries {
  /** Edit number now held for this sender. */
  readonly n: number;
  /** Send times of the newly delivered edits that the value still carries. */
  readonly sentAtMs: number[];
  /** Newly delivered edits too far behind to carry a send time. */
  readonly unsampled: number;
}

/**
 * What a received value delivers beyond lastSeen (the edit number held before;
 * -1 for none). Null if the value is not a stamps array or brings nothing new.
 */
export function readStamps(value: unknown, lastSeen: number): Deliveries | null {
  if (!Array.isArray(value) || value.length < 2) return null;
  const n: unknown = value[0];
  if (typeof n !== 'number' || n <= lastSeen) return null;
  const sentAtMs: number[] = [];
  let unsampled = 0;
  for (let k = lastSeen + 1; k <= n; k += 1) {
    const stamp: unknown = value[1 + n - k];
    if (typeof stamp === 'number') sentAtMs.push(stamp);
    else unsampled += 1;
  }
  return { n, sentAtMs, unsampled };
}

/** Number of edits a value stands for (edit numbers start at 0). */
export function editsHeld(value: unknown): number {
  return Array.isArray(value) && typeof value[0] === 'number' ? value[0] + 1 : 0;
}
