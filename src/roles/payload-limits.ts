/**
 * payload-limits.ts: fits configured size limits into one NATS message.
 */
import type { Logger } from '../log.ts';

/** Room left in a NATS message for headers and framing. */
export const PAYLOAD_HEADROOM_BYTES = 16 * 1024;

/**
 * Limits that must fit in one NATS message are capped by the server's
 * max_payload, with a warning, rather than failing at the first big frame.
 *
 * @param name the setting's environment variable, for the warning
 * @returns `configured`, or `maxPayload` less the headroom when that is smaller
 */
export function capToPayload(name: string, configured: number, maxPayload: number, log: Logger): number {
  const cap = maxPayload - PAYLOAD_HEADROOM_BYTES;
  if (configured <= cap) return configured;
  log.warn({ setting: name, configured, cap, maxPayload }, 'limit exceeds the nats server max_payload; capping it');
  return cap;
}
