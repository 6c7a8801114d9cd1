/**
 * The completion a worker sends, made into one Loom takes. Loom refuses a
 * completion whose error code or message is too long (64 and 4,000
 * characters), or whose output it could not record (over the message size,
 * an infinite number, NUL, nesting past 64 levels): the worker only logged
 * "completion not delivered" and the attempt waited out its start-to-close
 * time, then ran again with the same result. A build tool's error output
 * is easily longer than 4,000 characters.
 */
import { decodeActivityComplete, encodeActivity, type ActivityComplete, type ActivityOutcomeMessage } from '../../protocol/activity.ts';
import { ProtocolError } from '../../protocol/errors.ts';

/** jobErrorSchema's bounds (protocol/job-events.ts). */
const MAX_CODE_CHARS = 64;
const MAX_MESSAGE_CHARS = 4_000;

// With the `u` flag a surrogate pair is one code point (kept); NUL and a lone surrogate are replaced.
// eslint-disable-next-line no-control-regex
const UNSTORABLE = /[\u0000\uD800-\uDFFF]/gu;

function clip(text: string, max: number): string {
  const clean = text.replace(UNSTORABLE, '\uFFFD');
  return clean.length <= max ? clean : `${clean.slice(0, max - 1)}…`;
}

/** A completion and its wire form, encoded once: checked as Loom will read it, then sent as it is. */
export interface Completion {
  readonly message: ActivityComplete;
  readonly body: Uint8Array;
}

/**
 * `outcome` as a completion Loom accepts: a failure's code and message cut
 * to size, and an output Loom would refuse turned into a terminal failure
 * (`invalid-output`) that says why, so the step's onFailure applies now.
 */
export function completionFor(ids: Omit<ActivityComplete, 'outcome'>, outcome: ActivityOutcomeMessage): Completion {
  const fitted: ActivityOutcomeMessage = outcome.ok
    ? outcome
    : { ok: false, error: { code: clip(outcome.error.code, MAX_CODE_CHARS) || 'worker-error', message: clip(outcome.error.message, MAX_MESSAGE_CHARS) }, retryable: outcome.retryable };
  const message: ActivityComplete = { ...ids, outcome: fitted };
  const body = encodeActivity(message);
  try {
    decodeActivityComplete(body);
    return { message, body };
  } catch (err) {
    if (!(err instanceof ProtocolError) || !fitted.ok) throw err;
    const refused: ActivityComplete = { ...ids, outcome: { ok: false, error: { code: 'invalid-output', message: clip(`the worker's output was not sent: ${err.message}`, MAX_MESSAGE_CHARS) }, retryable: false } };
    return { message: refused, body: encodeActivity(refused) };
  }
}
