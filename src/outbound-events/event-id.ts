/**
 * Deterministic ids of outbound events recorded from logs: the same fact
 * always gets the same id, so a relay that records it again after a crash
 * is collapsed by the stream's duplicate window (Nats-Msg-Id) and, past
 * that, still reaches receivers under the same `webhook-id`.
 */
import { createHash } from 'node:crypto';

/**
 * `evt_` + 32 hex digits of sha256 over the fact's key parts, e.g.
 * `logEventId('job', jobId, 42, 'job.succeeded')`.
 */
export function logEventId(...parts: ReadonlyArray<string | number>): string {
  const hash = createHash('sha256');
  // Length-prefixed so ('a:b', 'c') and ('a', 'b:c') never collide.
  for (const part of parts) {
    const text = String(part);
    hash.update(`${text.length}:${text};`);
  }
  return `evt_${hash.digest('hex').slice(0, 32)}`;
}
