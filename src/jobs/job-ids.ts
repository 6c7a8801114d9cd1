/**
 * Job ids as the gateway mints them (src/ids/): a digest of (owner,
 * idempotency key), so racing creates with one key name one job, or random.
 */
import type { ActorId } from '../../protocol/ids.ts';
import { mintedIdForKey, newMintedId } from '../ids/index.ts';

/** `job_` + 26 base32 characters of sha256(owner, key). */
export function jobIdForKey(owner: string, idempotencyKey: string): ActorId {
  return mintedIdForKey('job', owner, idempotencyKey);
}

/** `job_` + 26 random base32 characters (130 bits). */
export function newJobId(): ActorId {
  return newMintedId('job');
}
