/**
 * Token buckets keyed by connection (origin), for the presence rate limit.
 * Bounded: past MAX_BUCKETS the least recently used bucket is forgotten,
 * which at worst gives that connection a fresh burst.
 */

interface Bucket {
  tokens: number;
  at: number;
  readonly gateway: string | undefined;
}

const MAX_BUCKETS = 10_000;

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly perSec: number,
    private readonly burst: number,
  ) {}

  /** Takes one token from `key`'s bucket; false when it is empty. */
  take(key: string, gateway: string | undefined, now: number): boolean {
    const bucket = this.buckets.get(key) ?? { tokens: this.burst, at: now, gateway };
    this.buckets.delete(key); // re-inserted below: Map order is recency order
    if (this.buckets.size >= MAX_BUCKETS) {
      const [oldest] = this.buckets.keys();
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1_000) * this.perSec);
    bucket.at = now;
    this.buckets.set(key, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Forgets the buckets of connections that are gone. */
  forget(match: (key: string, gateway: string | undefined) => boolean): void {
    for (const [key, bucket] of this.buckets) if (match(key, bucket.gateway)) this.buckets.delete(key);
  }
}
