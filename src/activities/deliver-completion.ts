/**
 * Delivering a completion: a finished task's result must not be lost
 * because Loom was briefly unable to take it. It is sent again, with
 * backoff, for as long as the trouble is of the passing kind: Loom refused
 * it for now (`mailbox-full` from a host at its bound, `unavailable`,
 * `not-owner`), nothing answered (no actor host subscribed, e.g. while the
 * actors hosts restart: `unavailable`), or the answer did not come in time
 * (`timeout`). Sending it again is safe: the job applies the first
 * completion of an attempt it takes, once, and answers any later copy
 * `accepted: false`. It stops at an answer (accepted or stale), at a
 * terminal error, or when the worker stops; the attempt's clocks at Loom
 * bound what a late completion can still do (a stale one is answered
 * `accepted: false`).
 */
import type { ActivityReply } from '../../protocol/activity.ts';
import { ProtocolError } from '../../protocol/errors.ts';
import { backoffDelayMs } from '../inference/failure.ts';
import type { Logger } from '../log.ts';
import { pause } from '../pause.ts';

/** Backoff between sends: doubling from the first, capped, with jitter (half to all of the ceiling). */
export const COMPLETE_RETRY_FIRST_MS = 100;
export const COMPLETE_RETRY_MAX_MS = 2_000;

export type Delivery =
  /** Loom answered: `reply.accepted` says whether this completion was recorded. */
  | { readonly kind: 'answered'; readonly reply: ActivityReply; readonly sends: number }
  /** Loom refused it for good (a malformed completion), or it could not be sent (the connection closed). */
  | { readonly kind: 'refused'; readonly err: unknown; readonly sends: number }
  /** The worker stopped while Loom could not take it yet. */
  | { readonly kind: 'stopped'; readonly err: unknown; readonly sends: number };

/**
 * Calls `send` until it settles, as above; `log` carries the task's ids.
 * Logs the first passing refusal at warn (later ones at debug) and a delivery after one at info.
 */
export async function deliverCompletion(send: () => Promise<ActivityReply>, opts: { readonly signal: AbortSignal; readonly log: Logger }): Promise<Delivery> {
  for (let sends = 1; ; sends++) {
    try {
      const reply = await send();
      if (sends > 1) opts.log.info({ sends, accepted: reply.accepted }, 'completion delivered after Loom could not take it');
      return { kind: 'answered', reply, sends };
    } catch (err) {
      if (!(err instanceof ProtocolError && err.retryable)) return { kind: 'refused', err, sends };
      if (opts.signal.aborted) return { kind: 'stopped', err, sends };
      const waitMs = backoffDelayMs(sends, { initialMs: COMPLETE_RETRY_FIRST_MS, maxMs: COMPLETE_RETRY_MAX_MS });
      const fields = { err, code: err.code, sends, waitMs };
      if (sends === 1) opts.log.warn(fields, 'completion not taken yet; sending it again');
      else opts.log.debug(fields, 'completion not taken yet; sending it again');
      await pause(waitMs, opts.signal);
    }
  }
}
