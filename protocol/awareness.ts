/**
 * Validation of y-protocols awareness updates before any actor or gateway acts
 * on them, and their encoding. Layout: varUint count, then per entry varUint
 * clientID, varUint clock, varString JSON state ("null" removes the client).
 */
import * as decoding from 'lib0/decoding';
import * as encoding from 'lib0/encoding';
import { ProtocolError } from './errors.ts';

export interface AwarenessEntry {
  readonly clientId: number;
  readonly clock: number;
  /** True when the entry removes the client's presence (state `null`). */
  readonly removed: boolean;
  /** The state as sent: JSON text of an object, or `null`. */
  readonly state: string;
  /** UTF-8 bytes of `state` on the wire (what presence limits count). */
  readonly stateBytes: number;
}

/** More entries than any real room has; bounds work per message. */
export const MAX_AWARENESS_ENTRIES = 1_000;

// Fatal: y-protocols decodes states strictly, so invalid UTF-8 must be refused here, not fail in the actor.
const utf8 = new TextDecoder('utf-8', { fatal: true });

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
      const raw = decoding.readVarUint8Array(d);
      const text = utf8.decode(raw);
      const state: unknown = JSON.parse(text);
      if (state !== null && typeof state !== 'object') {
        throw new ProtocolError('malformed-message', `awareness state of client ${clientId} is not an object`);
      }
      entries.push({ clientId, clock, removed: state === null, state: text, stateBytes: raw.length });
    }
  } catch (err) {
    if (err instanceof ProtocolError) throw err;
    throw new ProtocolError('malformed-message', 'awareness update is truncated or malformed', { cause: err });
  }
  if (decoding.hasContent(d)) throw new ProtocolError('malformed-message', 'trailing bytes after awareness update');
  return entries;
}

/** One client's presence to encode; `state` null removes the client. */
export interface AwarenessState {
  readonly clientId: number;
  readonly clock: number;
  /** JSON text of the state object, or null. */
  readonly state: string | null;
}

/** Encodes states as one awareness update (the inverse of decodeAwarenessUpdate). */
export function encodeAwarenessUpdate(states: readonly AwarenessState[]): Uint8Array {
  const e = encoding.createEncoder();
  encoding.writeVarUint(e, states.length);
  for (const s of states) {
    encoding.writeVarUint(e, s.clientId);
    encoding.writeVarUint(e, s.clock);
    encoding.writeVarString(e, s.state ?? 'null');
  }
  return encoding.toUint8Array(e);
}
