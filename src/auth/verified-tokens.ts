/**
 * Access tokens whose signature and claims were already checked, kept until
 * they expire, so the same token presented again skips the HMAC (jose's
 * WebCrypto verify was ~5% of a gateway's CPU under the agent benchmark,
 * where every client request carries the same token for minutes).
 *
 * Why this is safe: a JWT is immutable, so the same string always verifies
 * the same way while its claims hold; the only claim that changes with time
 * is expiry, and an entry is used only before `exp` (later, the full check
 * runs again and applies the clock tolerance). Failures are never kept.
 * Revocation is not the token's business: the session check runs on every
 * request after this (create-auth.ts).
 */
import { BoundedMap } from '../limits/bounded-map.ts';
import type { Principal } from './principal.ts';

/** Tokens remembered at most; the oldest are dropped first. */
export const VERIFIED_TOKENS_MAX = 10_000;

interface Verified {
  readonly principal: Principal;
  readonly untilMs: number;
}

export class VerifiedTokens {
  readonly #entries: BoundedMap<string, Verified>;

  constructor(maxEntries = VERIFIED_TOKENS_MAX) {
    this.#entries = new BoundedMap(maxEntries);
  }

  /** The principal of a token verified before and not yet expired at `nowMs`, or undefined. */
  get(token: string, nowMs: number): Principal | undefined {
    const hit = this.#entries.get(token);
    if (hit === undefined) return undefined;
    if (hit.untilMs > nowMs) return hit.principal;
    this.#entries.delete(token);
    return undefined;
  }

  /** Remembers a token that just verified, until its expiry (a token without one is not kept). */
  set(token: string, principal: Principal): void {
    if (principal.expiresAt === undefined) return;
    this.#entries.set(token, { principal, untilMs: principal.expiresAt.getTime() });
  }
}
