/**
 * wait-for.ts: poll a condition until it holds or a deadline passes.
 *
 * Tests wait for conditions, never for time (STYLE.md §8). A probe that
 * throws counts as "not yet"; the last error is kept so a timeout says why
 * the condition never held, not only that it didn't.
 */
import { setTimeout as delay } from 'node:timers/promises';

/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this many milliseconds. Default 10_000. */
  timeoutMs?: number;
  /** Pause between attempts, in milliseconds. Default 25. */
  intervalMs?: number;
  /** What is awaited, for the error message ("stream to have 3 messages"). */
  what?: string;
}

/** Thrown by {@link waitFor} when the deadline passes; `cause` is the probe's last error. */
export class WaitForTimeoutError extends Error {
  override readonly name = 'WaitForTimeoutError';
  readonly code = 'WAIT_FOR_TIMEOUT';
}

const pending = Symbol('pending');

/**
 * Calls `probe` until it returns a truthy value without throwing, and
 * returns that value. Each attempt is bounded by the remaining time, so a
 * hanging probe cannot outlive the deadline.
 *
 * @throws {WaitForTimeoutError} after `timeoutMs`, naming `what` and carrying
 *   the last error the probe threw as `cause`.
 * @example
 *   const info = await waitFor(() => jsm.streams.info(name), { what: 'stream' });
 */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  opts: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 25;
  const what = opts.what ?? 'condition';
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let attempts = 0;

  for (;;) {
    attempts += 1;
    try {
      const value = await withinDeadline(probe, deadline);
      if (value !== pending && value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    await delay(Math.min(intervalMs, left));
  }

  const reason = lastError === undefined ? 'probe never returned a truthy value' : `last error: ${describe(lastError)}`;
  throw new WaitForTimeoutError(
    `timed out after ${timeoutMs} ms (${attempts} attempts) waiting for ${what}; ${reason}`,
    { cause: lastError },
  );
}

/** Runs one attempt, giving up on it (not on the probe) when the deadline passes. */
async function withinDeadline<T>(probe: () => T | Promise<T>, deadline: number): Promise<T | typeof pending> {
  const attempt = Promise.resolve().then(probe);
  const left = deadline - Date.now();
  if (left <= 0) return attempt;
  const ac = new AbortController();
  try {
    return await Promise.race([attempt, delay(left, pending, { signal: ac.signal })]);
  } finally {
    ac.abort();
    // A probe still running past the deadline may reject later; its error
    // no longer matters, but it must not become an unhandled rejection.
    attempt.catch(() => undefined);
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
