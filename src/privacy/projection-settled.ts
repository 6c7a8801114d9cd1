/**
 * Waiting for an actor's projection row to show the state its reply
 * announced. Job and agent actors write their row beside the mailbox, after
 * replying, so a row deleted right after `cancel` could be written again by
 * that late write (with the input it held). Once the row shows a settled
 * status no later write comes: settled actors append nothing more.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { PrivacyError } from './privacy-error.ts';

/** How long a cancelled actor may take to project its settled state. */
const SETTLE_TIMEOUT_MS = 10_000;
const POLL_MS = 25;

/**
 * Resolves once `status()` is null (no row) or `settled` accepts it.
 * @throws PrivacyError `deletion-incomplete` when the row does not settle in time (the request can be repeated).
 */
export async function projectionSettled(what: string, status: () => Promise<string | null>, settled: (status: string) => boolean): Promise<void> {
  const deadline = Date.now() + SETTLE_TIMEOUT_MS;
  for (;;) {
    const current = await status();
    if (current === null || settled(current)) return;
    if (Date.now() >= deadline) throw new PrivacyError('deletion-incomplete', `${what} did not settle after its cancel; repeat the request`);
    await delay(POLL_MS);
  }
}
