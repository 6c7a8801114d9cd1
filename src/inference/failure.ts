/**
 * What a failed model call means for the work queue (STYLE.md §4): terminal
 * failures are `term`ed and reported, retryable ones are `nak`ed with
 * exponential backoff and jitter until the deliveries run out.
 */
import { APIConnectionError, APIError, APIUserAbortError } from 'openai';
import type { InferenceErrorCode } from '../../protocol/inference.ts';

/** Why the worker aborted a call itself. */
export type AbortReason = 'cancelled' | 'timeout' | 'shutdown';

export type Failure =
  | { readonly terminal: true; readonly code: InferenceErrorCode; readonly message: string }
  | { readonly terminal: false; readonly code: 'model-unavailable' | 'timeout' | 'shutdown'; readonly message: string };

/**
 * Classifies an error thrown by a model call.
 * 4xx other than 408/429 → terminal `model-rejected`; 408, 429, 5xx, network
 * errors and timeouts → retryable. `aborted` is the worker's own reason when
 * it aborted the call (cancel, call timeout, shutdown).
 */
export function classifyCallError(err: unknown, aborted: AbortReason | undefined): Failure {
  if (aborted === 'cancelled') return { terminal: true, code: 'cancelled', message: 'cancelled by the caller' };
  if (aborted === 'timeout') return { terminal: false, code: 'timeout', message: 'model call timed out' };
  if (aborted === 'shutdown') return { terminal: false, code: 'shutdown', message: 'worker shut down mid-call' };
  if (err instanceof ModelOutputError) return { terminal: true, code: err.code, message: err.message };
  if (err instanceof APIUserAbortError) return { terminal: false, code: 'model-unavailable', message: 'model call aborted' };
  if (err instanceof APIConnectionError) return { terminal: false, code: 'model-unavailable', message: `model server unreachable: ${err.message}` };
  if (err instanceof APIError) {
    const status = err.status;
    if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
      return { terminal: true, code: 'model-rejected', message: `model server refused the request: ${err.message}` };
    }
    return { terminal: false, code: 'model-unavailable', message: `model server error: ${err.message}` };
  }
  return { terminal: false, code: 'model-unavailable', message: `model call failed: ${err instanceof Error ? err.message : String(err)}` };
}

/** A completed call whose output the worker refuses to deliver as a success (e.g. content filter). */
export class ModelOutputError extends Error {
  override readonly name = 'ModelOutputError';
  constructor(
    readonly code: InferenceErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface BackoffPolicy {
  /** Delay before the second delivery. */
  readonly initialMs: number;
  /** Ceiling of any delay. */
  readonly maxMs: number;
}

/**
 * Delay before the next delivery after delivery `deliveryCount` failed:
 * `initialMs * 2^(deliveryCount-1)`, capped at `maxMs`, then "equal jitter"
 * (uniform in [d/2, d]) so a burst of failures does not come back in step.
 */
export function backoffDelayMs(deliveryCount: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, Math.min(30, deliveryCount - 1)));
  return Math.round(exp / 2 + random() * (exp / 2));
}
