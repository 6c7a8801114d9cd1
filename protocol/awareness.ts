/**
 * Validation of y-protocols awareness updates before any actor or gateway acts
 * on them. Layout: varUint count, then per entry varUint clientID, varUint
 * clock, varString JSON state ("null" removes the client).
 */
import * as decoding from 'lib0/decoding';
import { ProtocolError } from './errors.ts';

export interface AwarenessEntry {
  readonly clientId: number;
  readonly clock: number;
  /** True when the entry removes the client's presence (state `null`). */
  readonly removed: boolean;
}

/** More entries than any real room has; bounds work per message. */
export const MAX_AWARENESS_ENTRIES = 1_000;

/** @throws ProtocolError `malformed-message` naming the fault. */
export function decodeAwarenessUpdate(update: Uint8Array): AwarenessEntry[] {
  const d = decoding.createDecoder(update);
  const entries: AwarenessEntry[] = [];
  try {
    const count = decoding.readVarUint(d);
    if (count > MAX_AWARENESS_ENTRIES) {
      throw new ProtocolError('malformed-message', `awareness update has ${count} entries (max ${MAX_AWARENESS_ENTRIES})`);
    }
    for (let i = 0; i < count; i++) {
      const clientId = decoding.readVarUint(d);
      const clock = decoding.readVarUint(d);
      const state: unknown = JSON.parse(decoding.readVarString(d));
      if (state !== null && typeof state !== 'object') {
        throw new ProtocolError('malformed-message', `awareness state of client ${clientId} is not an object`);
      }
      entries.push({ clientId, clock, removed: state === null });
    }
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError('malformed-message', 'awareness update is truncated or malformed', { cause: err });
  }
  if (decoding.hasContent(d)) throw new ProtocolError('malformed-message', 'trailing bytes after awareness update');
  return entries;
}

