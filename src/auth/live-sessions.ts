/**
 * A short memory of login sessions found live, so a gateway does not read
 * the refresh-token table on every request of the same session (one indexed
 * read per request was ~13% of a gateway's CPU, with its driver work, under
 * the agent benchmark, where each client sends a message every turn).
 *
 * Why this is safe: only "live" answers are kept, for at most `ttlMs`; a
 * revoked answer is never kept (it is final anyway). A revocation made by
 * this process, or told by another gateway (`sys.auth.revoked`, the notices
 * that close sockets), forgets the session at once, and a read that began
 * before such a forget is not kept, so it cannot put back a stale "live".
 * What remains is a notice lost in a NATS reconnect: then a signed-out
 * session's tokens still pass here for at most `ttlMs` (sockets wait for the
 * 60 s sweep in that case).
 */
import type { CredentialRevoked } from '../../protocol/revocation.ts';
import { BoundedMap } from '../limits/bounded-map.ts';

/** How long a live answer is reused: the longest a lost notice can let a signed-out session's token through. */
export const LIVE_SESSION_TTL_MS = 1_000;
/** Sessions remembered at most; the oldest are dropped first. */
export const LIVE_SESSION_MAX = 10_000;

interface Live {
  readonly userId: string;
  readonly until: number;
}

export class LiveSessions {
  readonly #live: BoundedMap<string, Live>;
  /** Bumped by every forget: a read that saw an older value does not store its answer. */
  #generation = 0;

  constructor(
    /** The authoritative read: true when the session was revoked (or never existed). */
    private readonly isRevoked: (sessionId: string) => Promise<boolean>,
    private readonly opts: { readonly ttlMs?: number; readonly maxEntries?: number; readonly now?: () => number } = {},
  ) {
    this.#live = new BoundedMap(opts.maxEntries ?? LIVE_SESSION_MAX);
  }

  /** Whether `sessionId` of `userId` was signed out; reads the store unless it was found live within the TTL. */
  async isSessionRevoked(userId: string, sessionId: string): Promise<boolean> {
    const now = this.#now();
    const hit = this.#live.get(sessionId);
    if (hit !== undefined && hit.userId === userId && hit.until > now) return false;
    const generation = this.#generation;
    const revoked = await this.isRevoked(sessionId);
    if (revoked) this.#live.delete(sessionId);
    else if (generation === this.#generation) this.#live.set(sessionId, { userId, until: now + (this.opts.ttlMs ?? LIVE_SESSION_TTL_MS) });
    return revoked;
  }

  /** Forgets what a revocation names (an API key names no session: nothing to forget). */
  forget(notice: CredentialRevoked): void {
    this.#generation++;
    switch (notice.kind) {
      case 'session':
        this.#live.delete(notice.sessionId);
        return;
      case 'all-sessions':
        for (const [sessionId, live] of this.#live.entries()) if (live.userId === notice.userId) this.#live.delete(sessionId);
        return;
      case 'api-key':
        return;
      default: {
        const never: never = notice;
        throw new Error(`unknown revocation ${JSON.stringify(never)}`);
      }
    }
  }

  #now(): number {
    return (this.opts.now ?? Date.now)();
  }
}
