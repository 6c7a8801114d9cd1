/**
 * Token buckets keyed by string (an IP, a user, a connection). Each key gets
 * `capacity` tokens, refilled continuously at `refillPerSec`; a `take` that
 * finds too few tokens is refused with the time until enough have refilled.
 *
 * Buckets live in this process. Limits that must hold across gateways (API
 * requests, logins) use an AsyncRateLimiter shared through NATS
 * (src/limits/), which keeps one of these in front of it. Memory is bounded: a full
 * bucket is the same as no bucket and is dropped, and past `maxKeys` the
 * least recently used bucket is evicted (which can only favour that key).
 */

/** Outcome of {@link RateLimiter.take}. */
export type RateLimitResult = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number };

/** A set of token buckets. */
export interface RateLimiter {
  /**
   * Takes `cost` tokens (default 1) from `key`'s bucket.
   * @returns `{ ok: false, retryAfterMs }` when the bucket holds fewer than `cost`; nothing is taken then.
   */
  take(key: string, cost?: number): RateLimitResult;
  /** Refills `key`'s bucket (e.g. after a successful login). */
  reset(key: string): void;
  /** Number of buckets held (for tests and metrics). */
  readonly size: number;
}

/** Options of {@link createRateLimiter}. */
export interface RateLimiterOptions {
  /** Burst size: tokens a fresh bucket holds. */
  readonly capacity: number;
  /** Tokens added per second. */
  readonly refillPerSec: number;
  /** Clock in ms; injectable for tests. Default `Date.now`. */
  readonly now?: () => number;
  /** Most buckets kept; the least recently used go first. Default 100_000. */
  readonly maxKeys?: number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

/**
 * Creates an in-process token-bucket limiter.
 * @throws RangeError for a non-positive capacity, refill rate or maxKeys.
 * @example
 *   const perConnection = createRateLimiter({ capacity: 200, refillPerSec: 100 });
 *   const r = perConnection.take(connId);
 *   if (!r.ok) ws.close(CLOSE_CODES.rateLimited, 'too many messages');
 */
export function createRateLimiter(opts: RateLimiterOptions): RateLimiter {
  const { capacity, refillPerSec } = opts;
  const maxKeys = opts.maxKeys ?? 100_000;
  const now = opts.now ?? Date.now;
  if (!(capacity > 0) || !(refillPerSec > 0) || !(maxKeys > 0)) {
    throw new RangeError(`rate limiter needs positive capacity, refillPerSec and maxKeys (got ${capacity}, ${refillPerSec}, ${maxKeys})`);
  }
  // Map iteration order is insertion order: re-inserting on use keeps the
  // least recently used bucket first, ready for eviction.
  const buckets = new Map<string, Bucket>();

  return {
    take(key, cost = 1) {
      const t = now();
      const previous = buckets.get(key);
      const elapsedS = previous === undefined ? 0 : Math.max(0, t - previous.atMs) / 1000;
      const tokens = previous === undefined ? capacity : Math.min(capacity, previous.tokens + elapsedS * refillPerSec);
      buckets.delete(key);
      if (tokens < cost) {
        buckets.set(key, { tokens, atMs: t });
        evict();
        return { ok: false, retryAfterMs: Math.ceil(((Math.min(cost, capacity) - tokens) / refillPerSec) * 1000) };
      }
      const left = tokens - cost;
      if (left < capacity) buckets.set(key, { tokens: left, atMs: t });
      evict();
      return { ok: true };
    },
    reset(key) {
      buckets.delete(key);
    },
    get size() {
      return buckets.size;
    },
  };

  function evict(): void {
    while (buckets.size > maxKeys) {
      const oldest = buckets.keys().next();
      if (oldest.done === true) return;
      buckets.delete(oldest.value);
    }
  }
}

/** A rate limiter whose decisions may need a round trip (src/limits shares its buckets across gateways). */
export interface AsyncRateLimiter {
  /** Takes `cost` tokens (default 1) from `key`'s bucket; nothing is taken when refused. */
  take(key: string, cost?: number): Promise<RateLimitResult>;
  /** Refills `key`'s bucket (e.g. after a successful login). */
  reset(key: string): Promise<void>;
}

/** An in-process limiter behind the async face, for a process that shares its buckets with nobody. */
export function localAsyncLimiter(limiter: RateLimiter): AsyncRateLimiter {
  return {
    take: (key, cost) => Promise.resolve(limiter.take(key, cost)),
    reset: (key) => {
      limiter.reset(key);
      return Promise.resolve();
    },
  };
}
