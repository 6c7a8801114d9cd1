/**
 * Actor ids as the gateway mints them (jobs, agent sessions). With an
 * idempotency key the id is a digest of (owner, key): two creates with the
 * same key, even racing on different gateways, name the same actor, whose
 * single mailbox makes the first one create it and every other one find it.
 * Without a key the id is random.
 */
import { createHash, randomBytes } from 'node:crypto';
import { parseActorId, type ActorId } from '../../protocol/ids.ts';

/** `<prefix>_` + 26 base32 characters of sha256(namespace, owner, key); the owner is length-prefixed, so no two (owner, key) pairs share an input. */
export function mintedIdForKey(kind: 'job' | 'agent', owner: string, idempotencyKey: string): ActorId {
  const digest = createHash('sha256').update(`loom-${kind}\u0000${owner.length}:${owner}\u0000${idempotencyKey}`).digest();
  return parseActorId(`${kind}_${base32(digest).slice(0, 26)}`);
}

/** `<kind>_` + 26 random base32 characters (130 bits). */
export function newMintedId(kind: 'job' | 'agent'): ActorId {
  return parseActorId(`${kind}_${base32(randomBytes(17)).slice(0, 26)}`);
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

function base32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}
